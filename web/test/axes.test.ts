import { describe, expect, it } from "vitest";
import { decimalsOf, MIN_SPAN_S, numberAxis, rateAxis, TIME_INCRS, timeRange } from "../src/axes";

const MiB = 1024 ** 2;

/** The ticks uPlot puts at multiples of `incr` from `from` to `to`. */
function ticks(from: number, to: number, incr: number): number[] {
  const out: number[] = [];
  for (let tick = Math.ceil(from / incr) * incr; tick <= to + incr * 1e-9; tick += incr) out.push(tick);
  return out;
}

describe("chart axes", () => {
  it("never tick the time axis below a second, and show at least a minute", () => {
    expect(Math.min(...TIME_INCRS)).toBe(1);
    expect(timeRange(1000, 1002)).toEqual([1002 - MIN_SPAN_S, 1002]);
    expect(timeRange(1000, 1000)).toEqual([1000 - MIN_SPAN_S, 1000]);
    expect(timeRange(1000, 1600)).toEqual([1000, 1600]);
  });

  it("give plain numbers the decimals their step needs, so no two ticks read the same", () => {
    expect([5, 0.5, 0.25, 0.02, 0.001].map(decimalsOf)).toEqual([0, 1, 2, 2, 3]);
    // A container's CPU of a few hundredths of a percent: "0.0" five times before.
    const labels = numberAxis.labels(ticks(0, 0.08, 0.02), 0.02);
    expect(labels).toEqual(["0.00", "0.02", "0.04", "0.06", "0.08"]);
    expect(numberAxis.labels(ticks(0, 100, 25), 25)).toEqual(["0", "25", "50", "75", "100"]);
  });

  it("read byte rates in one IEC unit, stepping in powers of two, all different", () => {
    expect(rateAxis.incrs).toContain(MiB);
    expect(rateAxis.labels(ticks(16 * MiB, 20 * MiB, MiB), MiB)).toEqual([
      "16 MiB/s", "17 MiB/s", "18 MiB/s", "19 MiB/s", "20 MiB/s",
    ]);
    expect(rateAxis.labels(ticks(0, 2 * MiB, MiB / 2), MiB / 2)).toEqual([
      "0.0 MiB/s", "0.5 MiB/s", "1.0 MiB/s", "1.5 MiB/s", "2.0 MiB/s",
    ]);
    expect(rateAxis.labels(ticks(0, 256, 64), 64)).toEqual(["0 B/s", "64 B/s", "128 B/s", "192 B/s", "256 B/s"]);
    // A step too fine for the largest tick's unit reads in a smaller one, not as 0.0625 MiB.
    const fine = rateAxis.labels(ticks(960 * 1024, 1088 * 1024, 64 * 1024), 64 * 1024);
    expect(fine).toEqual(["960 KiB/s", "1024 KiB/s", "1088 KiB/s"]);
    for (const incr of rateAxis.incrs!.slice(0, 40)) {
      const labels = rateAxis.labels(ticks(incr * 37, incr * 42, incr), incr);
      expect(new Set(labels).size).toBe(labels.length);
    }
  });
});
