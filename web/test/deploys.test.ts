import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { SpecCard } from "../src/views/DeployPage";
import { commandArgv } from "../src/command";
import { layerLine, pullLine, type PullProgress } from "../src/pull";
import { envOf, shownArgument } from "../src/views/Deploys";

describe("deploy secrets in the dashboard", () => {
  it("reads NAME=VALUE lines, values kept whole, and names a bad line", () => {
    expect(envOf("DB_URL=postgres://u:p@db/x?a=b\nEMPTY=\n")).toEqual({ DB_URL: "postgres://u:p@db/x?a=b", EMPTY: "" });
    expect(() => envOf("NOVALUE")).toThrow(/NAME=VALUE .*NOVALUE/);
  });

  it("shows a secret argument as its mask, plain ones quoted as a shell needs them", () => {
    expect(["serve", { secret: "***" }].map(shownArgument)).toEqual(["serve", "secret(***)"]);
    expect(["sh", "-c", "echo hello world"].map(shownArgument).join(" ")).toBe("sh -c 'echo hello world'");
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

describe("the deploy form's command", () => {
  it("is split as a shell would: quotes group, backslashes escape, nothing expands", () => {
    expect(commandArgv(`sh -c "echo hello world"`).argv).toEqual(["sh", "-c", "echo hello world"]);
    expect(commandArgv(`printf '%s\\n' "it's" a\\ b ""`).argv).toEqual(["printf", "%s\\n", "it's", "a b", ""]);
    expect(commandArgv(`echo $HOME * | cat`).argv).toEqual(["echo", "$HOME", "*", "|", "cat"]);
    expect(commandArgv("   ").argv).toEqual([]);
  });

  it("says when a quote is not closed, rather than guessing", () => {
    expect(commandArgv(`sh -c "echo hi`)).toEqual({ argv: null, error: "command: a quote is not closed" });
  });

  it("reads back as the same argv when shown", () => {
    const argv = ["sh", "-c", "echo 'a b' \"$X\""];
    expect(commandArgv(argv.map(shownArgument).join(" ")).argv).toEqual(argv);
  });
});

describe("a deploy's pull progress", () => {
  const layer = (id: string, current: number, total: number | null, percent: number) => ({ id, status: "Downloading", current, total, percent });
  const MiB = 1024 ** 2;

  it("says 'of ?' while a layer still to come has not told its size, in IEC units", () => {
    const pull: PullProgress = {
      layers: [layer("a", 0, null, 100), layer("b", 0, null, 0), layer("c", 0, null, 0)],
      current: 0, total: 0, percent: 33.3,
    };
    expect(pullLine(pull)).toBe("33 % · 0 B of ? · 1/3 layers");
  });

  it("gives the total once every layer to come has one (a layer the host has needs none)", () => {
    const pull: PullProgress = {
      layers: [layer("a", 0, null, 100), layer("b", MiB, 2 * MiB, 50), layer("c", 0, MiB / 2, 0)],
      current: MiB, total: 2.5 * MiB, percent: 50,
    };
    expect(pullLine(pull)).toBe("50 % · 1.0 MiB of 2.5 MiB · 1/3 layers");
    expect(pull.layers.map(layerLine)).toEqual(["", "1.0 MiB of 2.0 MiB", "0 B of 512.0 KiB"]);
    expect(layerLine(layer("d", 3 * 1024, null, 0))).toBe("3.0 KiB of ?");
  });
});
