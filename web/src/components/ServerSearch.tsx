// The log view's search sent to the server: the kept logs of this view's source
// (`/api/logs/search`, searched by the history service), not only the lines the page
// holds. Newest first, a page at a time ("More" goes on from the answer's cursor); the
// text is plain, in any case, as the page's own filter takes it, and the level the
// view's filter picks is asked too (the server keeps that level or worse). A hit clicked
// opens the lines around it in its source (`/api/logs/around`); a retained container's
// or pod's lines span its generations (a container recreated under its name, a pod of
// its workload, a restart): the server marks the first line of each (`generation`), and
// the marker is drawn there.

import { useEffect, useState } from "react";
import { useApp } from "../app-context";
import type { Level } from "../logs";
import { ApiError } from "../session";
import type { Params } from "../stream/protocol";

const PAGE = 100;
const AROUND = 10; // lines before and after a hit opened

/** Where a generation begins: a container (its id, when it started) that took a
 * retained name, or a pod of a retained workload and its container's restarts. */
export type Generation = { id: string; started: string } | { pod: string; uid: string; restarts: number };

export interface Hit {
  time: string;
  stream: string;
  text: string;
  at: string;
  generation?: Generation; // on the first line kept of a generation
  // where it comes from: a container, a pod, a host's journal or log file
  host?: string;
  container?: string;
  name?: string;
  cluster?: string;
  namespace?: string;
  pod?: string;
  unit?: string;
  file?: string;
}

/** Where a hit comes from, as a merged view names its sources: a container by its name,
 * a pod as `cluster/namespace/pod`, a journal entry as `host/unit`, a file `host/file`. */
export function hitSource(hit: Hit): string {
  if (hit.cluster) return `${hit.cluster}/${hit.namespace}/${hit.pod}`;
  if (hit.file) return `${hit.host}/${hit.file}`;
  if (!hit.container) return `${hit.host}/${hit.unit ?? "journal"}`;
  return hit.name ?? `${hit.host}/${hit.container.slice(0, 12)}`;
}

export type AroundEntry = { kind: "line"; line: Hit; index: number } | { kind: "generation"; generation: Generation; at: string };

/** The lines around a hit, each line where a generation begins after its marker. */
export function withGenerations(lines: Hit[]): AroundEntry[] {
  return lines.flatMap((line, index): AroundEntry[] => {
    const entry: AroundEntry = { kind: "line", line, index };
    return line.generation ? [{ kind: "generation", generation: line.generation, at: line.at }, entry] : [entry];
  });
}

/** A generation's marker in words. */
export function generationSaid(generation: Generation): string {
  if ("id" in generation) {
    return `container ${generation.id.slice(0, 12)} started ${new Date(generation.started).toLocaleString()}`;
  }
  return `pod ${generation.pod}, ${generation.restarts} ${generation.restarts === 1 ? "restart" : "restarts"}`;
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

/** What is searched: the text, and the level the view's filter picks ("": any). */
export interface Asked {
  text: string;
  level: Level | "";
}

interface Found extends Asked {
  hits: Hit[];
  cursor?: string;
  busy: boolean;
  error?: string;
}

export function searchUrl({ text, level }: Asked, where: Params, cursor?: string): string {
  const query = new URLSearchParams({ pattern: text, literal: "true", ignore_case: "true", limit: String(PAGE) });
  if (level) query.set("level", level); // that level or worse
  for (const [key, value] of Object.entries(where)) query.set(key, value);
  if (cursor !== undefined) query.set("cursor", cursor);
  return `/api/logs/search?${query}`;
}

export function aroundUrl(at: string, where: Params): string {
  const query = new URLSearchParams({ at, before: String(AROUND), after: String(AROUND), ...where });
  return `/api/logs/around?${query}`;
}

function HitLine({ hit, className = "", withSource }: { hit: Hit; className?: string; withSource: boolean }) {
  return (
    <>
      <span className="muted">{new Date(hit.time).toLocaleString()} </span>
      {withSource && (
        <span className="source" data-testid="hit-source">
          {hitSource(hit)}{" "}
        </span>
      )}
      <span className={`${className}${hit.stream === "stderr" ? " error" : ""}`}>{hit.text}</span>
    </>
  );
}

/** A hit of the list where a generation begins: its marker beside it (the list is
 * newest first, so no line between says where). */
function GenerationTag({ hit }: { hit: Hit }) {
  if (!hit.generation) return null;
  return <span className="generation-tag muted" data-testid="hit-generation"> · first line of {generationSaid(hit.generation)}</span>;
}

interface Props {
  text: string;
  level: Level | "";
  where: Params;
  /** Several sources are searched (a merged view): each hit says its own. */
  withSource?: boolean;
}

export function ServerSearch({ text, level, where, withSource = false }: Props) {
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
      const page = await session.api<Hits>(searchUrl(from, where, from.cursor));
      setFound({ ...from, hits: [...from.hits, ...page.hits], cursor: page.cursor, busy: false });
    } catch (error) {
      const said = error instanceof ApiError ? error.message : String(error);
      setFound({ ...from, busy: false, error: said });
    }
  };

  return (
    <div className="server-search">
      <button
        onClick={() => void ask({ text, level, hits: [], busy: false })}
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
              {found.hits.length} {found.hits.length === 1 ? "line" : "lines"} with “{found.text}”
              {found.level ? ` of level ${found.level} or worse` : ""} kept
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
                <HitLine hit={hit} withSource={withSource} />
                <GenerationTag hit={hit} />
              </div>
              {opened?.at === hit.at && (
                <div className="server-around" data-testid="server-around">
                  {opened.error && <p className="error">{opened.error}</p>}
                  {!opened.around && !opened.error && <span className="muted">reading…</span>}
                  {withGenerations(opened.around?.lines ?? []).map((entry) =>
                    entry.kind === "generation" ? (
                      <div key={`generation ${entry.at}`} className="generation muted" data-testid="around-generation">
                        — {generationSaid(entry.generation)}: from here —
                      </div>
                    ) : (
                      <div key={entry.line.at} className="server-hit" data-testid="around-line">
                        <HitLine hit={entry.line} className={entry.index === opened.around?.hit ? "hit" : ""} withSource={withSource} />
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
