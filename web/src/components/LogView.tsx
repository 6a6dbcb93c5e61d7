// A log, live, as the container page and the merged view show it: follow or pause (with
// a count of lines waiting), search, level filter, gap and reset markers, copy and
// download; with `older`, scroll-back ("Load older"); with `sources` (a merged view),
// a colour per source, a toggle to hide or show each, join/leave markers and late lines
// marked. Lines live in a ref (up to MAX_LINES) and the list is virtualised, so
// thousands of lines cost what a screenful does.

import { useVirtualizer } from "@tanstack/react-virtual";
import { useEffect, useMemo, useRef, useState } from "react";
import { useApp } from "../app-context";
import { Live, useLive } from "../live";
import { Empty } from "./Empty";
import { RefusalNote } from "./RefusalNote";
import { ServerSearch } from "./ServerSearch";
import { type Entry, type Level, Sources, entriesText, shownEntries, toggled } from "../logs";
import { type Params, channelKey } from "../stream/protocol";

const MAX_LINES = 20_000;
const LINE_HEIGHT = 18;

export interface Older {
  entries: Entry[];
  atStart: boolean;
}

interface Props {
  channel: string;
  params: Params;
  /** The entries of an update's data (a function that does not change: deps leave it out). */
  entries: (data: Record<string, unknown>) => Entry[];
  fileName: string;
  /** The page of lines before the oldest held (its first entry). */
  older?: (oldest: Entry | undefined) => Promise<Older>;
  sources?: boolean;
  /** The source in `/api/logs/search`'s terms: its search can ask the server's kept logs. */
  searchWhere?: Params;
}

export function LogView({ channel, params, entries, fileName, older, sources: bySource = false, searchWhere }: Props) {
  const { manager } = useApp();
  const live = useMemo(() => new Live(), []);
  const lines = useRef<Entry[]>([]);
  const version = useLive(live);
  const key = channelKey(channel, params);
  const sources = useMemo(() => new Sources(), [key]); // eslint-disable-line
  const [hidden, setHidden] = useState<ReadonlySet<string>>(new Set());
  const [paused, setPaused] = useState<number | null>(null); // lines shown while paused
  const [search, setSearch] = useState("");
  const [level, setLevel] = useState<Level | "">("");
  const [history, setHistory] = useState<"more" | "loading" | "start">("more");

  useEffect(() => {
    lines.current = [];
    setHistory("more");
    setHidden(new Set());
    const add = (entry: Entry) => {
      if (entry.source !== undefined) sources.see(entry.source);
      lines.current.push(entry);
      if (lines.current.length > MAX_LINES) lines.current.splice(0, lines.current.length - MAX_LINES);
    };
    const now = () => new Date().toISOString();
    return manager.subscribe(channel, params, (event) => {
      if (event.type === "update") {
        entries(event.data).forEach(add);
      } else if (event.type === "gap") {
        add({ kind: "gap", time: now(), text: `${event.dropped} lines dropped (too slow)`, level: "warn" });
      } else if (event.type === "reset") {
        add({ kind: "reset", time: now(), text: "lines missed while away are gone (older than the window)", level: "warn" });
      } else if (event.type === "error") {
        add({ kind: "error", time: now(), text: `${event.code}: ${event.message}`, level: "error" });
      }
      live.changed();
    });
  }, [manager, live, sources, key]); // eslint-disable-line

  const shown = useMemo(
    () => shownEntries(lines.current, { upTo: paused ?? lines.current.length, search, level, hidden }),
    [version, paused, search, level, hidden], // eslint-disable-line
  );

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

  const download = () => {
    const url = URL.createObjectURL(new Blob([entriesText(shown)], { type: "text/plain" }));
    const link = document.createElement("a");
    link.href = url;
    link.download = fileName;
    link.click();
    URL.revokeObjectURL(url);
  };
  const waiting = paused === null ? 0 : lines.current.length - paused;

  const loadOlder = async () => {
    if (!older) return;
    setHistory("loading");
    try {
      const page = await older(lines.current.find((e) => e.kind === "line"));
      lines.current.unshift(...page.entries);
      if (paused !== null) setPaused(paused + page.entries.length); // the same lines stay shown
      setHistory(page.atStart ? "start" : "more");
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
        <button onClick={() => void navigator.clipboard?.writeText(entriesText(shown))}>Copy</button>
        <button onClick={download} data-testid="logs-download">Download</button>
        {older && (
          <button onClick={() => void loadOlder()} disabled={history !== "more"} data-testid="logs-older">
            {history === "start" ? "Start of the log" : history === "loading" ? "Loading…" : "Load older"}
          </button>
        )}
        <span className="muted" data-testid="logs-count">{shown.length} lines</span>
      </div>
      {searchWhere && <ServerSearch text={search} level={level} where={searchWhere} withSource={bySource} />}
      {bySource && (
        <div className="toolbar sources" data-testid="sources">
          {sources.names.length === 0 && <span className="muted">no source yet</span>}
          {sources.names.map((name) => (
            <button
              key={name}
              className={hidden.has(name) ? "source off" : "source"}
              style={{ borderColor: sources.colourOf(name) }}
              onClick={() => setHidden(toggled(hidden, name))}
              aria-pressed={!hidden.has(name)}
              data-testid="source-toggle"
              data-source={name}
            >
              <span className="swatch" style={{ background: sources.colourOf(name) }} /> {name}
            </button>
          ))}
        </div>
      )}
      <RefusalNote channels={[key]} />
      <div ref={scroller} className="log-body" data-testid="log-view">
        {shown.length === 0 &&
          (lines.current.length === 0 ? (
            <Empty what="No lines yet." testId="empty-log">
              They appear as soon as the source prints one{older ? "; Load older reads what it printed before" : ""}.
            </Empty>
          ) : (
            <Empty what="No line matches." testId="empty-log">
              {paused !== null ? "Paused before any line came: Follow shows the new ones." : "Change the search, the level or the sources shown."}
            </Empty>
          ))}
        <div style={{ height: virtual.getTotalSize(), position: "relative" }}>
          {virtual.getVirtualItems().map((item) => (
            <Row key={item.index} entry={shown[item.index]} top={item.start} colour={shown[item.index].source && sources.colourOf(shown[item.index].source!)} />
          ))}
        </div>
      </div>
    </section>
  );
}

function Row({ entry, top, colour }: { entry: Entry; top: number; colour?: string }) {
  const line = entry.kind === "line";
  return (
    <div
      className={`log-line ${entry.kind} ${entry.level}${entry.late ? " late" : ""}`}
      style={{ transform: `translateY(${top}px)`, ...(!line && colour ? { color: colour } : {}) }}
      data-testid={line ? "log-line" : "log-marker"}
      data-source={entry.source}
      data-marker={line ? undefined : entry.kind}
    >
      {line ? (
        <>
          <span className="muted">{new Date(entry.time).toLocaleTimeString()} </span>
          {entry.source !== undefined && (
            <span className="source-name" style={{ color: colour }}>
              {entry.source}{" "}
            </span>
          )}
          {entry.late && (
            <span className="late-tag" title="came after newer lines of other sources (its source lags)" data-testid="late">
              late{" "}
            </span>
          )}
          {entry.text}
        </>
      ) : (
        `— ${entry.text} —`
      )}
    </div>
  );
}
