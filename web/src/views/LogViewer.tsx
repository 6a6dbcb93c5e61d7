// A log, live (a container's `docker.logs`, a pod's `k8s.logs`: the channel and its
// params are props): follow or pause, search, level filter, gap and reset markers, copy
// and download, and scroll-back: "Load older" asks `olderUrl` for the page before the
// oldest line held (seed 002's `before`/`limit`), back to the start of the log. Lines live in a ref (up to MAX_LINES) and the list is virtualised, so
// thousands of lines cost what a screenful does.

import { useVirtualizer } from "@tanstack/react-virtual";
import { useEffect, useMemo, useRef, useState } from "react";
import { useApp } from "../app-context";
import { Live, useLive } from "../live";
import { type Params, channelKey } from "../stream/protocol";

const MAX_LINES = 20_000;
const LINE_HEIGHT = 18;
const PAGE_LINES = 200;

interface LogPage {
  lines: { time: string; stream: string; text: string }[];
  next_before: string | null;
}

type Level = "error" | "warn" | "info" | "debug";
interface Entry {
  kind: "line" | "gap" | "reset" | "error";
  time: string;
  stream?: string;
  text: string;
  level: Level;
}

const LEVELS: [Level, RegExp][] = [
  ["error", /\b(error|err|fatal|crit(ical)?|panic|exception)\b/i],
  ["warn", /\b(warn(ing)?)\b/i],
  ["debug", /\b(debug|trace)\b/i],
];

function levelOf(text: string, stream: string): Level {
  for (const [level, pattern] of LEVELS) if (pattern.test(text)) return level;
  return stream === "stderr" ? "warn" : "info";
}

interface Props {
  channel: string;
  params: Params;
  /** The log's pages (`LogPage`), with any query of its own; before/limit are added. */
  olderUrl: string;
  fileName: string;
}

export function LogViewer({ channel, params, olderUrl, fileName }: Props) {
  const { manager, session } = useApp();
  const live = useMemo(() => new Live(), []);
  const lines = useRef<Entry[]>([]);
  const version = useLive(live);
  const [paused, setPaused] = useState<number | null>(null); // lines shown while paused
  const [search, setSearch] = useState("");
  const [level, setLevel] = useState<Level | "">("");
  const [history, setHistory] = useState<"more" | "loading" | "start">("more");
  const key = channelKey(channel, params);

  useEffect(() => {
    lines.current = [];
    setHistory("more");
    const add = (entry: Entry) => {
      lines.current.push(entry);
      if (lines.current.length > MAX_LINES) lines.current.splice(0, lines.current.length - MAX_LINES);
    };
    return manager.subscribe(channel, params, (event) => {
      if (event.type === "update") {
        const batch = event.data as { lines: { time: string; stream: string; text: string }[] };
        for (const line of batch.lines) {
          add({ kind: "line", time: line.time, stream: line.stream, text: line.text, level: levelOf(line.text, line.stream) });
        }
      } else if (event.type === "gap") {
        add({ kind: "gap", time: new Date().toISOString(), text: `${event.dropped} lines dropped (too slow)`, level: "warn" });
      } else if (event.type === "reset") {
        add({ kind: "reset", time: new Date().toISOString(), text: "lines missed while away are gone (older than the window)", level: "warn" });
      } else {
        add({ kind: "error", time: new Date().toISOString(), text: `${event.code}: ${event.message}`, level: "error" });
      }
      live.changed();
    });
  }, [manager, live, key]); // eslint-disable-line

  const shown = useMemo(() => {
    const upTo = paused ?? lines.current.length;
    const needle = search.toLowerCase();
    return lines.current
      .slice(0, upTo)
      .filter((e) => e.kind !== "line" || ((!level || e.level === level) && (!needle || e.text.toLowerCase().includes(needle))));
  }, [version, paused, search, level]); // eslint-disable-line

  const scroller = useRef<HTMLDivElement>(null);
  const virtual = useVirtualizer({
    count: shown.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => LINE_HEIGHT,
    overscan: 20,
  });
  useEffect(() => {
    if (paused === null && shown.length > 0) virtual.scrollToIndex(shown.length - 1, { align: "end" });
  }, [shown, paused, virtual]);

  const text = () => shown.map((e) => (e.kind === "line" ? e.text : `--- ${e.text} ---`)).join("\n") + "\n";
  const download = () => {
    const url = URL.createObjectURL(new Blob([text()], { type: "text/plain" }));
    const link = document.createElement("a");
    link.href = url;
    link.download = fileName;
    link.click();
    URL.revokeObjectURL(url);
  };
  const waiting = paused === null ? 0 : lines.current.length - paused;

  const loadOlder = async () => {
    const oldest = lines.current.find((e) => e.kind === "line");
    const query = new URLSearchParams({ limit: String(PAGE_LINES) });
    if (oldest) query.set("before", oldest.time);
    setHistory("loading");
    try {
      const page = await session.api<LogPage>(`${olderUrl}${olderUrl.includes("?") ? "&" : "?"}${query}`);
      const older: Entry[] = page.lines.map((line) => ({
        kind: "line", time: line.time, stream: line.stream, text: line.text, level: levelOf(line.text, line.stream),
      }));
      lines.current.unshift(...older);
      if (paused !== null) setPaused(paused + older.length); // the same lines stay shown
      setHistory(page.next_before === null ? "start" : "more");
      live.changed();
    } catch {
      setHistory("more");
    }
  };

  return (
    <section className="logs">
      <div className="toolbar">
        {paused === null ? (
          <button onClick={() => setPaused(lines.current.length)} data-testid="logs-pause">Pause</button>
        ) : (
          <button className="primary" onClick={() => setPaused(null)} data-testid="logs-follow">
            Follow{waiting > 0 ? ` (${waiting} new)` : ""}
          </button>
        )}
        <input placeholder="search" value={search} onChange={(e) => setSearch(e.target.value)} data-testid="logs-search" />
        <select value={level} onChange={(e) => setLevel(e.target.value as Level | "")} aria-label="level">
          <option value="">all levels</option>
          <option value="error">errors</option>
          <option value="warn">warnings</option>
          <option value="info">info</option>
          <option value="debug">debug</option>
        </select>
        <button onClick={() => void navigator.clipboard?.writeText(text())}>Copy</button>
        <button onClick={download} data-testid="logs-download">Download</button>
        <button onClick={() => void loadOlder()} disabled={history !== "more"} data-testid="logs-older">
          {history === "start" ? "Start of the log" : history === "loading" ? "Loading…" : "Load older"}
        </button>
        <span className="muted" data-testid="logs-count">{shown.length} lines</span>
      </div>
      <div ref={scroller} className="log-body" data-testid="log-view">
        <div style={{ height: virtual.getTotalSize(), position: "relative" }}>
          {virtual.getVirtualItems().map((item) => {
            const entry = shown[item.index];
            return (
              <div
                key={item.index}
                className={`log-line ${entry.kind} ${entry.level}`}
                style={{ transform: `translateY(${item.start}px)` }}
                data-testid={entry.kind === "line" ? "log-line" : "log-marker"}
              >
                {entry.kind === "line" ? (
                  <>
                    <span className="muted">{new Date(entry.time).toLocaleTimeString()} </span>
                    {entry.text}
                  </>
                ) : (
                  `— ${entry.text} —`
                )}
              </div>
            );
          })}
        </div>
      </div>
    </section>
  );
}
