import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { SpecCard } from "../src/views/DeployPage";
import { envOf, shownArgument } from "../src/views/Deploys";

describe("deploy secrets in the dashboard", () => {
  it("reads NAME=VALUE lines, values kept whole, and names a bad line", () => {
    expect(envOf("DB_URL=postgres://u:p@db/x?a=b\nEMPTY=\n")).toEqual({ DB_URL: "postgres://u:p@db/x?a=b", EMPTY: "" });
    expect(() => envOf("NOVALUE")).toThrow(/NAME=VALUE .*NOVALUE/);
  });

  it("shows a secret argument as its mask, plain ones as they are", () => {
    expect(["serve", { secret: "***" }].map(shownArgument)).toEqual(["serve", "secret(***)"]);
  });

  it("shows a record's spec with the environment's names and the gateway's masks", () => {
    const html = renderToStaticMarkup(
      createElement(SpecCard, {
        spec: {
          name: "web", image: "r/web:2", host: "h1", strategy: "recreate", confirm: false,
          command: ["app", "--token", { secret: "***" }], env: { DB_PASSWORD: "***" },
        },
      }),
    );
    expect(html).toContain("app --token secret(***)");
    expect(html).toContain("DB_PASSWORD=***");
  });
});
