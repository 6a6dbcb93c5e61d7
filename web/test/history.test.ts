import { describe, expect, it, vi } from "vitest";
import {
  fetchHistory,
  historyColumns,
  type HistoryAnswer,
  liveLeftAGap,
  rangeQuery,
  rangeWindow,
  tableFigures,
  withLive,
} from "../src/history";

const at = (seconds: number) => new Date(seconds * 1000).toISOString();
const T0 = Date.parse("2026-12-06T09:00:00Z") / 1000;

/** A host's answer: points every `step` seconds from T0, cpu = i, memory = 10 * i. */
function answer(points: number, step = 2): HistoryAnswer {
  const times = Array.from({ length: points }, (_, i) => at(T0 + i * step));
  const stats = (f: (i: number) => number | null) => {
    const values = times.map((_, i) => f(i));
    return { min: values, max: values, mean: values, last: values };
  };
  return {
    kind: "host",
    source: "h1",
    start: at(T0),
    end: at(T0 + points * step),
    step_s: step,
    tiers: [{ tier: "raw", start: at(T0), end: at(T0 + points * step) }],
    entries: [{ key: "h1", times, samples: times.map(() => 1), series: { cpu_percent: stats((i) => i), memory_percent: stats((i) => (i === 1 ? null : 10 * i)) } }],
  };
}

describe("ranges", () => {
  it("asks a preset as since, a custom range as start and end", () => {
    expect(rangeQuery({ kind: "since", seconds: 900 })).toBe("since=15m");
    expect(rangeQuery({ kind: "since", seconds: 30 * 86400 })).toBe("since=30d");
    expect(rangeQuery({ kind: "since", seconds: 120 })).toBe("since=120s");
    expect(rangeQuery({ kind: "between", start: T0, end: T0 + 60 })).toBe(
      `start=${encodeURIComponent("2026-12-06T09:00:00.000Z")}&end=${encodeURIComponent("2026-12-06T09:01:00.000Z")}`,
    );
  });

  it("follows now when relative, stays put when between", () => {
    expect(rangeWindow({ kind: "since", seconds: 3600 }, T0)).toEqual([T0 - 3600, T0]);
    expect(rangeWindow({ kind: "between", start: 1, end: 2 }, T0)).toEqual([1, 2]);
  });

  it("fetches the path with the range", async () => {
    const api = vi.fn(async (_path: string) => answer(1));
    await fetchHistory(api as <T>(path: string) => Promise<T>, "/api/history/hosts/h1", { kind: "since", seconds: 3600 });
    expect(api).toHaveBeenCalledWith("/api/history/hosts/h1?since=1h");
    await fetchHistory(api as <T>(path: string) => Promise<T>, "/api/history/hosts/h1", { kind: "since", seconds: 900 }, ["cpu_percent", "memory_percent"]);
    expect(api).toHaveBeenLastCalledWith("/api/history/hosts/h1?since=15m&series=cpu_percent,memory_percent");
  });
});

describe("history and live", () => {
  it("turns an entry into columns in the order asked, null where no value", () => {
    const columns = historyColumns(answer(3), ["memory_percent", "cpu_percent", "swap_used"]);
    expect(columns.times).toEqual([T0, T0 + 2, T0 + 4]);
    expect(columns.values).toEqual([[0, null, 20], [0, 1, 2], [null, null, null]]);
    expect(columns.until).toBe(T0 + 6); // the last point's step ends there
  });

  it("appends the live samples after the last point's step: no point twice, none missing", () => {
    const history = historyColumns(answer(3), ["cpu_percent"]);
    // The socket's snapshot (T0 + 5, in the last point's step) and the samples after it.
    const live = { times: [T0 + 5, T0 + 7, T0 + 9], values: [[50, 70, 90]] };
    const merged = withLive(history, live);
    expect(merged.times).toEqual([T0, T0 + 2, T0 + 4, T0 + 7, T0 + 9]);
    expect(merged.values).toEqual([[0, 1, 2, 70, 90]]);
    expect(new Set(merged.times).size).toBe(merged.times.length);
    expect([...merged.times].sort((a, b) => a - b)).toEqual(merged.times);
  });

  it("takes a sample at the step's end, and drops what ended before a moving start", () => {
    const history = historyColumns(answer(3), ["cpu_percent"]);
    const merged = withLive(history, { times: [T0 + 6], values: [[60]] }, T0 + 2);
    expect(merged).toEqual({ times: [T0 + 2, T0 + 4, T0 + 6], values: [[1, 2, 60]] });
    // a point whose step ends inside the range stays
    expect(withLive(history, null, T0 + 1).times).toEqual([T0, T0 + 2, T0 + 4]);
  });

  it("shows the live samples alone when the range has no history", () => {
    const empty = { ...answer(0), start: at(T0) };
    const merged = withLive(historyColumns(empty, ["cpu_percent"]), { times: [T0 + 1, T0 + 3], values: [[1, 3]] });
    expect(merged.times).toEqual([T0 + 1, T0 + 3]);
  });

  it("finds a container's entry by name or id", () => {
    const table = answer(1);
    table.entries = [
      { ...table.entries[0], key: "web", id: "0123456789ab" },
      { ...table.entries[0], key: "db", id: "d".repeat(12) },
    ];
    expect(historyColumns(table, ["cpu_percent"], "db").times).toEqual([T0]);
    expect(historyColumns(table, ["cpu_percent"], "d".repeat(64)).times).toEqual([T0]);
    expect(historyColumns(table, ["cpu_percent"], "nope").times).toEqual([]);
  });

  it("says when the live samples no longer reach back to the history", () => {
    const history = historyColumns(answer(3), ["cpu_percent"]);
    expect(liveLeftAGap(history, { times: [T0 + 5, T0 + 7], values: [[1, 2]] })).toBe(false);
    expect(liveLeftAGap(history, { times: [T0 + 30, T0 + 32], values: [[1, 2]] })).toBe(true);
  });
});

describe("the table's figures", () => {
  it("takes each container's peak and its mean weighted by samples", () => {
    const table: HistoryAnswer = {
      ...answer(0),
      kind: "containers",
      entries: [
        {
          key: "web",
          id: "0123456789ab",
          times: [at(T0), at(T0 + 60)],
          samples: [30, 10],
          series: {
            cpu_percent: { min: [1, 2], max: [40, 20], mean: [10, 30], last: [5, 6] },
            memory_usage: { min: [1, 1], max: [100, 300], mean: [50, 250], last: [1, 1] },
          },
        },
        { key: "quiet", times: [at(T0)], samples: [1], series: { cpu_percent: { min: [null], max: [null], mean: [null], last: [null] } } },
      ],
    };
    const [web, quiet] = tableFigures(table);
    expect(web).toMatchObject({ host: "h1", name: "web", id: "0123456789ab", cpuPeak: 40, cpuMean: 15, memoryPeak: 300, memoryMean: 100, lastSeen: T0 + 60 });
    expect(quiet).toMatchObject({ cpuPeak: null, cpuMean: null, memoryPeak: null });
  });
});
