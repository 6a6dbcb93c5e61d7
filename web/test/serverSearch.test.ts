import { describe, expect, it } from "vitest";
import { type Hit, generationSaid, hitSource, searchUrl, withGenerations } from "../src/components/ServerSearch";

describe("searchUrl", () => {
  it("asks for the text as plain, in any case, of the view's source, from the cursor", () => {
    const url = new URL(searchUrl({ text: "a.b (x)", level: "" }, { host: "web1", container: "0123456789ab" }, "12:3"), "http://x");
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
    const url = new URL(searchUrl({ text: "oom", level: "" }, { cluster: "prod", namespace: "shop", pod: "api-1" }), "http://x");
    expect(url.searchParams.has("cursor")).toBe(false);
    expect(url.searchParams.get("pod")).toBe("api-1");
  });

  it("asks for the level the view's filter picks, and none when it picks all", () => {
    const where = { host: "web1", container: "0123456789ab" };
    expect(new URL(searchUrl({ text: "db", level: "warn" }, where), "http://x").searchParams.get("level")).toBe("warn");
    expect(new URL(searchUrl({ text: "db", level: "" }, where), "http://x").searchParams.has("level")).toBe(false);
  });
});

describe("withGenerations", () => {
  const started = "2026-12-06T12:00:00Z";
  const line = (n: number, generation?: Hit["generation"]): Hit => ({ time: "t", stream: "stdout", text: `l${n}`, at: `k1:${n}`, generation });

  it("puts the server's marker before the line where a generation begins", () => {
    const second = { id: "bbbbbbbbbbbbbbbb", started };
    const entries = withGenerations([line(0), line(1), line(2, second), line(3)]);
    expect(entries.map((e) => (e.kind === "line" ? e.line.text : e.generation))).toEqual(["l0", "l1", second, "l2", "l3"]);
    expect(entries.flatMap((e) => (e.kind === "line" ? [e.index] : []))).toEqual([0, 1, 2, 3]);
  });

  it("guesses nothing: lines of two containers with no marker between are one run", () => {
    const first = { ...line(0), container: "aaa" };
    const second = { ...line(1), container: "bbb" };
    expect(withGenerations([first, second]).every((e) => e.kind === "line")).toBe(true);
  });

  it("marks a pod's generation as well, the first line shown included", () => {
    const pod = { pod: "web-2", uid: "u2", restarts: 1 };
    const entries = withGenerations([line(0, pod), line(1)]);
    expect(entries.map((e) => e.kind)).toEqual(["generation", "line", "line"]);
  });
});

describe("generationSaid", () => {
  it("says a container by its short id and start, a pod by its name and restarts", () => {
    const container = generationSaid({ id: "0123456789abcdef", started: "2026-12-06T12:00:00Z" });
    expect(container).toMatch(/^container 0123456789ab started /);
    expect(container).not.toContain("cdef");
    expect(generationSaid({ pod: "web-2", uid: "u2", restarts: 0 })).toBe("pod web-2, 0 restarts");
    expect(generationSaid({ pod: "web-1", uid: "u1", restarts: 1 })).toBe("pod web-1, 1 restart");
  });
});

describe("hitSource", () => {
  const line = { time: "2026-12-06T12:00:00Z", stream: "stdout", text: "x", at: "1:0" };
  it("names a container by its name, else its host and short id", () => {
    expect(hitSource({ ...line, host: "web1", container: "0123456789abcdef", name: "shop-web" })).toBe("shop-web");
    expect(hitSource({ ...line, host: "web1", container: "0123456789abcdef" })).toBe("web1/0123456789ab");
  });
  it("names a pod, a journal entry and a log file as a merged view does", () => {
    expect(hitSource({ ...line, cluster: "prod", namespace: "shop", pod: "api-1", container: "app" })).toBe("prod/shop/api-1");
    expect(hitSource({ ...line, host: "web1", unit: "docker.service" })).toBe("web1/docker.service");
    expect(hitSource({ ...line, host: "web1", file: "syslog" })).toBe("web1/syslog");
  });
});
