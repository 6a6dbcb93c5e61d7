import { describe, expect, it } from "vitest";
import { backoffDelayMs } from "../src/stream/backoff";

describe("backoff", () => {
  it("waits 2, 5, 10, 30 s and then stays at 30 s", () => {
    const delays = [0, 1, 2, 3, 4, 9].map((attempt) => backoffDelayMs(attempt, undefined, 0.2, () => 0.5));
    expect(delays).toEqual([2000, 5000, 10000, 30000, 30000, 30000]);
  });

  it("spreads each step over ±20 % so clients do not come back at once", () => {
    expect(backoffDelayMs(0, undefined, 0.2, () => 0)).toBe(1600);
    expect(backoffDelayMs(0, undefined, 0.2, () => 1)).toBe(2400);
    expect(backoffDelayMs(3, undefined, 0.2, () => 0)).toBe(24000);
    const spread = new Set(Array.from({ length: 50 }, () => backoffDelayMs(1)));
    expect(spread.size).toBeGreaterThan(10);
    for (const delay of spread) expect(delay).toBeGreaterThanOrEqual(4000);
  });
});
