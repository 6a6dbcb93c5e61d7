// Metrics history (`GET /api/history/...`): the range a page's charts show, the fetch,
// the answer as chart columns, and the live samples joined after it with no seam.
//
// - A range is relative (`since`: the last 15 min ... 30 days, following live) or
//   between two times (a custom range, or one zoomed to by dragging on a chart).
// - The history's points start at whole steps (`times`), each summing the samples of
//   [time, time + step). The live samples go after the last point's step: a sample in
//   that step is already in the point (never drawn twice), and the live window starts
//   with the socket's snapshot, the newest sample, which the history has (no gap).
// - The stores keep the last few minutes of live samples; when their oldest is past
//   the history's end (the page stayed open longer), the history is asked again.

import { useEffect, useState } from "react";

export type TimeRange = { kind: "since"; seconds: number } | { kind: "between"; start: number; end: number };

export interface Preset {
  label: string;
  /** For `since` (`15m`, `7d`). */
  since: string;
  seconds: number;
}

export const PRESETS: readonly Preset[] = [
  { label: "15 min", since: "15m", seconds: 900 },
  { label: "1 h", since: "1h", seconds: 3600 },
  { label: "6 h", since: "6h", seconds: 6 * 3600 },
  { label: "24 h", since: "24h", seconds: 86400 },
  { label: "7 d", since: "7d", seconds: 7 * 86400 },
  { label: "30 d", since: "30d", seconds: 30 * 86400 },
];

export const DEFAULT_RANGE: TimeRange = { kind: "since", seconds: 3600 };

export interface SeriesStats {
  min: (number | null)[];
  max: (number | null)[];
  mean: (number | null)[];
  last: (number | null)[];
}

export interface HistoryEntry {
  key: string;
  id?: string;
  times: string[];
  samples: number[];
  series: Record<string, SeriesStats>;
}

/** The gateway's answer (`HistorySeries` in `vigil.messages.history`). */
export interface HistoryAnswer {
  kind: string;
  source: string;
  start: string;
  end: string;
  step_s: number;
  tiers: { tier: string; start: string; end: string }[];
  entries: HistoryEntry[];
}

/** What a chart draws: times in seconds, and a column per series (null: no value). */
export interface Columns {
  times: number[];
  values: (number | null)[][];
}

/** Live samples as a store keeps them (`Ring`). */
export interface LiveColumns {
  times: readonly number[];
  values: readonly (readonly number[])[];
}

/** A history answer as chart columns, and where the live samples may start. */
export interface HistoryColumns extends Columns {
  /** Seconds: a live sample at or after this is not in the history. */
  until: number;
  /** Seconds each point sums. */
  step: number;
}

/** The query string of a range: `since=1h`, or `start=...&end=...` (RFC 3339). */
export function rangeQuery(range: TimeRange): string {
  if (range.kind === "since") {
    const preset = PRESETS.find((p) => p.seconds === range.seconds);
    return `since=${preset ? preset.since : `${Math.round(range.seconds)}s`}`;
  }
  const iso = (seconds: number) => encodeURIComponent(new Date(seconds * 1000).toISOString());
  return `start=${iso(range.start)}&end=${iso(range.end)}`;
}

/** The stretch of time a range shows at `now` (seconds). */
export function rangeWindow(range: TimeRange, now: number): [number, number] {
  return range.kind === "since" ? [now - range.seconds, now] : [range.start, range.end];
}

/** How a range reads: its preset's label, or its two ends. */
export function rangeLabel(range: TimeRange): string {
  if (range.kind === "since") return PRESETS.find((p) => p.seconds === range.seconds)?.label ?? `${range.seconds} s`;
  const at = (s: number) => new Date(s * 1000).toLocaleString();
  return `${at(range.start)} – ${at(range.end)}`;
}

export function sameRange(a: TimeRange, b: TimeRange): boolean {
  return a.kind === "since" && b.kind === "since"
    ? a.seconds === b.seconds
    : a.kind === "between" && b.kind === "between" && a.start === b.start && a.end === b.end;
}

/** The entry of `answer` whose key or id is `which` (by default its only/first one). */
export function entryOf(answer: HistoryAnswer, which?: string): HistoryEntry | undefined {
  if (which === undefined) return answer.entries[0];
  return answer.entries.find((e) => e.key === which || (e.id !== undefined && (e.id.startsWith(which) || which.startsWith(e.id))));
}

/** An entry's `names` series (their `stat`, the mean by default) as chart columns;
 * `scale` multiplies each (a fraction to a percent, say). No entry: no points, and
 * live samples from anywhere after the range's start. */
export function historyColumns(
  answer: HistoryAnswer,
  names: readonly string[],
  which?: string,
  stat: keyof SeriesStats = "mean",
): HistoryColumns {
  const entry = entryOf(answer, which);
  if (entry === undefined) {
    return { times: [], values: names.map(() => []), until: Date.parse(answer.start) / 1000, step: answer.step_s };
  }
  const times = entry.times.map((t) => Date.parse(t) / 1000);
  const values = names.map((name) => entry.series[name]?.[stat].slice() ?? times.map(() => null));
  const last = times.at(-1);
  return { times, values, until: last === undefined ? Date.parse(answer.start) / 1000 : last + answer.step_s, step: answer.step_s };
}

/** The history, then the live samples after it; what ended before `from` (a relative
 * range's start, moving with now) left out. */
export function withLive(history: HistoryColumns, live: LiveColumns | null, from = -Infinity): Columns {
  const times: number[] = [];
  const values: (number | null)[][] = history.values.map(() => []);
  history.times.forEach((time, i) => {
    if (time + history.step <= from) return;
    times.push(time);
    history.values.forEach((column, s) => values[s].push(column[i] ?? null));
  });
  if (live !== null) {
    live.times.forEach((time, i) => {
      if (time < history.until || time < from || (times.length > 0 && time <= times[times.length - 1])) return;
      times.push(time);
      values.forEach((column, s) => column.push(live.values[s]?.[i] ?? null));
    });
  }
  return { times, values };
}

/** Whether the live samples no longer reach back to the history's end (they are
 * kept for minutes: a page open longer asks its history again). */
export function liveLeftAGap(history: HistoryColumns, live: LiveColumns): boolean {
  const oldest = live.times[0];
  return oldest !== undefined && oldest > history.until && live.times.length > 1 && history.times.length > 0;
}

/** The series the table's figures are of. */
const TABLE_SERIES = ["cpu_percent", "memory_usage"] as const;

/** The range's figures of a container in a host's table. */
export interface RangeFigures {
  host: string;
  name: string;
  id?: string;
  cpuPeak: number | null;
  cpuMean: number | null;
  memoryPeak: number | null;
  memoryMean: number | null;
  /** The start of its last point (seconds): when it was last seen in the range. */
  lastSeen: number | null;
}

function peak(values: (number | null)[]): number | null {
  let most: number | null = null;
  for (const v of values) if (v !== null && (most === null || v > most)) most = v;
  return most;
}

/** The mean over the range: each point's mean weighted by its samples. */
function weightedMean(values: (number | null)[], samples: number[]): number | null {
  let sum = 0;
  let count = 0;
  values.forEach((v, i) => {
    if (v === null) return;
    const weight = samples[i] || 1;
    sum += v * weight;
    count += weight;
  });
  return count === 0 ? null : sum / count;
}

/** Every container of a host's table (`/api/history/docker/{host}/containers`): its
 * peak and mean CPU and memory over the range. */
export function tableFigures(answer: HistoryAnswer): RangeFigures[] {
  return answer.entries.map((entry) => {
    const cpu = entry.series.cpu_percent;
    const memory = entry.series.memory_usage;
    const last = entry.times.at(-1);
    return {
      host: answer.source,
      name: entry.key,
      id: entry.id,
      cpuPeak: cpu ? peak(cpu.max) : null,
      cpuMean: cpu ? weightedMean(cpu.mean, entry.samples) : null,
      memoryPeak: memory ? peak(memory.max) : null,
      memoryMean: memory ? weightedMean(memory.mean, entry.samples) : null,
      lastSeen: last === undefined ? null : Date.parse(last) / 1000,
    };
  });
}

type Api = <T>(path: string) => Promise<T>;

/** `GET {path}?{range}`, of `series` only when given (the answer is that much smaller). */
export function fetchHistory(api: Api, path: string, range: TimeRange, series?: readonly string[]): Promise<HistoryAnswer> {
  return api<HistoryAnswer>(historyUrl(path, range, series));
}

function historyUrl(path: string, range: TimeRange, series?: readonly string[]): string {
  const only = series === undefined ? "" : `&series=${series.map(encodeURIComponent).join(",")}`;
  return `${path}?${rangeQuery(range)}${only}`;
}

export interface HistoryState {
  answer: HistoryAnswer | null;
  /** The range's history came (or failed): the charts may draw. */
  settled: boolean;
  error: string | null;
}

/** A history kept for a page: asked when the path or range changes, and again when
 * `again` changes (a gap after the history's end; the old answer stays drawn until the
 * new one comes). A relative range is asked once and then follows live. `path` null:
 * nothing to ask (settled at once). */
export function useHistory(api: Api, path: string | null, range: TimeRange, again = 0, series?: readonly string[]): HistoryState {
  const key = path === null ? null : historyUrl(path, range, series);
  const [got, setGot] = useState<{ key: string; answer: HistoryAnswer | null; error: string | null } | null>(null);
  useEffect(() => {
    if (key === null || path === null) return;
    let current = true;
    fetchHistory(api, path, range, series).then(
      (answer) => current && setGot({ key, answer, error: null }),
      (error: unknown) => current && setGot({ key, answer: null, error: error instanceof Error ? error.message : String(error) }),
    );
    return () => {
      current = false;
    };
  }, [key, again]); // eslint-disable-line react-hooks/exhaustive-deps -- api: the same session, bound anew
  if (key === null) return { answer: null, settled: true, error: null };
  if (got === null || got.key !== key) return { answer: null, settled: false, error: null };
  return { answer: got.answer, settled: true, error: got.error };
}

export interface Charted {
  /** The history then the live samples; null until the history came (or failed), so a
   * chart's first paint has it. */
  columns: Columns | null;
  /** The x range the charts show. */
  window: [number, number];
  answer: HistoryAnswer | null;
  error: string | null;
}

/** A page's chart data: the range's history of `path` (series `names`, of the entry
 * `which`), and for a relative range the live samples after it (`live`, its columns
 * in the same order), the window moving with now. */
export function useCharted(
  api: Api,
  path: string | null,
  range: TimeRange,
  names: readonly string[],
  live: LiveColumns | null,
  which?: string,
): Charted {
  const [again, setAgain] = useState(0);
  const state = useHistory(api, path, range, again, names);
  const history = state.answer ? historyColumns(state.answer, names, which) : null;
  const following = range.kind === "since";
  const gap = following && history !== null && live !== null && liveLeftAGap(history, live);
  useEffect(() => {
    if (gap) setAgain((n) => n + 1);
  }, [gap]);
  const newest = following ? live?.times.at(-1) : undefined;
  const window = rangeWindow(range, Math.max(Date.now() / 1000, newest ?? 0));
  if (!state.settled) return { columns: null, window, answer: null, error: null };
  const base: HistoryColumns = history ?? { times: [], values: names.map(() => []), until: -Infinity, step: 0 };
  return { columns: withLive(base, following ? live : null, window[0]), window, answer: state.answer, error: state.error };
}

/** The range's figures of every container of `hosts`, by `host/name` (empty while
 * `range` is null: the table shows live figures only). */
export function useTableFigures(api: Api, hosts: readonly string[], range: TimeRange | null): { figures: Map<string, RangeFigures>; error: string | null } {
  const [got, setGot] = useState<{ figures: Map<string, RangeFigures>; error: string | null }>({ figures: new Map(), error: null });
  const key = range === null ? null : `${hosts.join(",")}?${rangeQuery(range)}`;
  useEffect(() => {
    if (range === null) {
      setGot({ figures: new Map(), error: null });
      return;
    }
    let current = true;
    Promise.allSettled(hosts.map((host) => fetchHistory(api, `/api/history/docker/${encodeURIComponent(host)}/containers`, range, TABLE_SERIES))).then((answers) => {
      if (!current) return;
      const figures = new Map<string, RangeFigures>();
      const errors: string[] = [];
      for (const answer of answers) {
        if (answer.status === "rejected") errors.push(answer.reason instanceof Error ? answer.reason.message : String(answer.reason));
        else for (const row of tableFigures(answer.value)) figures.set(`${row.host}/${row.name}`, row);
      }
      setGot({ figures, error: errors[0] ?? null });
    });
    return () => {
      current = false;
    };
  }, [key]); // eslint-disable-line react-hooks/exhaustive-deps -- key: hosts and range
  return got;
}
