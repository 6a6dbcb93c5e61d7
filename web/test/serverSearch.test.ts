import { describe, expect, it } from "vitest";
import { searchUrl, withGenerations } from "../src/components/ServerSearch";

describe("searchUrl", () => {
  it("asks for the text as plain, in any case, of the view's source, from the cursor", () => {
    const url = new URL(searchUrl("a.b (x)", { host: "web1", container: "0123456789ab" }, "12:3"), "http://x");
    expect(url.pathname).toBe("/api/logs/search");
    expect(Object.fromEntries(url.searchParams)).toEqual({
      pattern: "a.b (x)",
      literal: "true",
      ignore_case: "true",
      limit: "100",
      host: "web1",
      container: "0123456789ab",
      cursor: "12:3",
    });
  });

  it("leaves the cursor out of a first page", () => {
    const url = new URL(searchUrl("oom", { cluster: "prod", namespace: "shop", pod: "api-1" }), "http://x");
    expect(url.searchParams.has("cursor")).toBe(false);
    expect(url.searchParams.get("pod")).toBe("api-1");
  });
});

describe("withGenerations", () => {
  const line = (n: number, container?: string) => ({ time: "t", stream: "stdout", text: `l${n}`, at: `1:${n}`, container });

  it("marks where another container under the same name starts", () => {
    const entries = withGenerations([line(0, "aaa"), line(1, "aaa"), line(2, "bbb"), line(3, "bbb")]);
    expect(entries.map((e) => (e.kind === "line" ? e.line.text : `new ${e.container}`))).toEqual([
      "l0",
      "l1",
      "new bbb",
      "l2",
      "l3",
    ]);
    expect(entries.filter((e) => e.kind === "line").map((e) => (e.kind === "line" ? e.index : -1))).toEqual([0, 1, 2, 3]);
  });

  it("marks nothing for lines of no container (a pod's, a journal's) or of one", () => {
    expect(withGenerations([line(0), line(1)]).every((e) => e.kind === "line")).toBe(true);
    expect(withGenerations([line(0, "aaa"), line(1, "aaa")]).every((e) => e.kind === "line")).toBe(true);
  });
});
