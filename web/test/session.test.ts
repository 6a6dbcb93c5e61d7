import { describe, expect, it } from "vitest";
import { detailText } from "../src/session";

describe("detailText", () => {
  it("says a refusal as its code and message", () => {
    expect(detailText({ detail: { code: "NOT_FOUND", message: "no raised alert 'x'" } }, 404)).toBe("NOT_FOUND: no raised alert 'x'");
    expect(detailText({ detail: "Not authenticated" }, 401)).toBe("Not authenticated");
  });

  it("says each invalid field of a 422 where it is, without the body", () => {
    const body = {
      detail: [
        { type: "value_error", loc: ["body", "matcher", "hosts"], msg: "Value error, a glob of letters" },
        { type: "missing", loc: ["body", "ends"], msg: "Field required" },
        { type: "json_invalid", loc: [], msg: "the body is not valid JSON" },
      ],
    };
    expect(detailText(body, 422)).toBe("matcher.hosts: Value error, a glob of letters; ends: Field required; the body is not valid JSON");
  });

  it("shows what it does not know as it came", () => {
    expect(detailText({ detail: [1, 2] }, 400)).toBe("[1,2]");
  });
});
