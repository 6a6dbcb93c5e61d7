// The log view's search sent to the server: the kept logs of this view's source
// (`/api/logs/search`, searched by the history service), not only the lines the page
// holds. Newest first, a page at a time ("More" goes on from the answer's cursor); the
// text is plain, in any case, as the page's own filter takes it. A hit clicked opens
// the lines around it in its source (`/api/logs/around`); a retained container's lines
// span its generations (recreated under its name), each new one marked where it starts.

import { useEffect, useState } from "react";
import { useApp } from "../app-context";
import { ApiError } from "../session";
import type { Params } from "../stream/protocol";

const PAGE = 100;
const AROUND = 10; // lines before and after a hit opened

interface Hit {
  time: string;
  stream: string;
  text: string;
  at: string;
  container?: string; // a container's id: another one under the same name is a new generation
}

export type AroundEntry = { kind: "line"; line: Hit; index: number } | { kind: "generation"; container: string };

/** The lines around a hit, with a marker where a new container (a generation of the
 * same name) starts. */
export function withGenerations(lines: Hit[]): AroundEntry[] {
  const entries: AroundEntry[] = [];
  lines.forEach((line, index) => {
    const before = lines[index - 1];
    if (before?.container && line.container && line.container !== before.container) {
      entries.push({ kind: "generation", container: line.container });
    }
    entries.push({ kind: "line", line, index });
  });
  return entries;
}

interface Hits {
  hits: Hit[];
  cursor?: string;
}

interface Around {
  lines: Hit[];
  hit: number;
}

interface Opened {
  at: string;
  around?: Around;
  error?: string;
}

interface Found {
  text: string;
  hits: Hit[];
  cursor?: string;
  busy: boolean;
  error?: string;
}

export function searchUrl(text: string, where: Params, cursor?: string): string {
  const query = new URLSearchParams({ pattern: text, literal: "true", ignore_case: "true", limit: String(PAGE) });
  for (const [key, value] of Object.entries(where)) query.set(key, value);
  if (cursor !== undefined) query.set("cursor", cursor);
  return `/api/logs/search?${query}`;
}

export function aroundUrl(at: string, where: Params): string {
  const query = new URLSearchParams({ at, before: String(AROUND), after: String(AROUND), ...where });
  return `/api/logs/around?${query}`;
}

function HitLine({ hit, className = "" }: { hit: Hit; className?: string }) {
  return (
    <>
      <span className="muted">{new Date(hit.time).toLocaleString()} </span>
      <span className={`${className}${hit.stream === "stderr" ? " error" : ""}`}>{hit.text}</span>
    </>
  );
}

export function ServerSearch({ text, where }: { text: string; where: Params }) {
  const { session } = useApp();
  const [found, setFound] = useState<Found | null>(null);
  const [opened, setOpened] = useState<Opened | null>(null);
  const key = JSON.stringify(where);
  useEffect(() => {
    setFound(null);
    setOpened(null);
  }, [key]);

  const open = async (at: string) => {
    if (opened?.at === at) return setOpened(null); // clicked again: closed
    setOpened({ at });
    try {
      setOpened({ at, around: await session.api<Around>(aroundUrl(at, where)) });
    } catch (error) {
      setOpened({ at, error: error instanceof ApiError ? error.message : String(error) });
    }
  };

  const ask = async (from: Found) => {
    setFound({ ...from, busy: true, error: undefined });
    try {
      const page = await session.api<Hits>(searchUrl(from.text, where, from.cursor));
      setFound({ text: from.text, hits: [...from.hits, ...page.hits], cursor: page.cursor, busy: false });
    } catch (error) {
      const said = error instanceof ApiError ? error.message : String(error);
      setFound({ ...from, busy: false, error: said });
    }
  };

  return (
    <div className="server-search">
      <button
        onClick={() => void ask({ text, hits: [], busy: false })}
        disabled={text.trim() === "" || found?.busy}
        title="search what the server keeps of this log, not only the lines on the page"
        data-testid="logs-server-search"
      >
        Search kept logs
      </button>
      {found && (
        <div className="server-hits" data-testid="server-search">
          <div className="toolbar">
            <span className="muted" data-testid="server-search-count">
              {found.hits.length} {found.hits.length === 1 ? "line" : "lines"} with “{found.text}” kept
              {found.busy ? ", searching…" : found.cursor ? ", more older ones may be kept" : ""}
            </span>
            {found.cursor && !found.busy && (
              <button onClick={() => void ask(found)} data-testid="server-search-more">More</button>
            )}
            <button onClick={() => setFound(null)}>Close</button>
          </div>
          {found.error && <p className="error" data-testid="server-search-error">{found.error}</p>}
          {found.hits.map((hit) => (
            <div key={hit.at}>
              <div
                className="server-hit"
                onClick={() => void open(hit.at)}
                title="the lines around it"
                data-testid="server-hit"
              >
                <HitLine hit={hit} />
              </div>
              {opened?.at === hit.at && (
                <div className="server-around" data-testid="server-around">
                  {opened.error && <p className="error">{opened.error}</p>}
                  {!opened.around && !opened.error && <span className="muted">reading…</span>}
                  {withGenerations(opened.around?.lines ?? []).map((entry) =>
                    entry.kind === "generation" ? (
                      <div key={`generation ${entry.container}`} className="generation muted" data-testid="around-generation">
                        — container recreated: {entry.container.slice(0, 12)} from here —
                      </div>
                    ) : (
                      <div key={entry.line.at} className="server-hit" data-testid="around-line">
                        <HitLine hit={entry.line} className={entry.index === opened.around?.hit ? "hit" : ""} />
                      </div>
                    ),
                  )}
                </div>
              )}
            </div>
          ))}
        </div>
      )}
    </div>
  );
}
