import { describe, expect, it } from "vitest";
import { searchUrl } from "../src/components/ServerSearch";

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
