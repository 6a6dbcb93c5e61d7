// What the log views share: entries (lines and markers), a line's level as the viewer
// guesses it, the lines of a `docker.logs` or `logs.merged` update, and the colours and
// toggles of a merged view's sources.

export type Level = "error" | "warn" | "info" | "debug";

export interface Entry {
  kind: "line" | "gap" | "reset" | "error" | "joined" | "left";
  time: string;
  stream?: string;
  text: string;
  level: Level;
  /** Merged views: where the line comes from: a container's name, a pod's
   * `cluster/namespace/pod`. */
  source?: string;
  /** Merged views: the line came after later lines of other sources had gone. */
  late?: boolean;
}

const LEVELS: [Level, RegExp][] = [
  ["error", /\b(error|err|fatal|crit(ical)?|panic|exception)\b/i],
  ["warn", /\b(warn(ing)?)\b/i],
  ["debug", /\b(debug|trace)\b/i],
];

export function levelOf(text: string, stream: string): Level {
  for (const [level, pattern] of LEVELS) if (pattern.test(text)) return level;
  return stream === "stderr" ? "warn" : "info";
}

interface LogLine {
  time: string;
  stream: string;
  text: string;
}

/** A line of a container (`host`, `container` its id) or of a pod (`cluster`,
 * `namespace`, `container` the pod's container; none on markers); `name` is the
 * container's or the pod's. */
interface MergedLogLine extends LogLine {
  host?: string;
  cluster?: string;
  namespace?: string;
  container?: string;
  name: string;
  unit?: string; // a host journal's line
  priority?: number;
  late?: boolean;
  marker?: "joined" | "left";
}

/** A merged line's source as the view names it: pods of several clusters and
 * namespaces may share names, containers are named per host. */
function sourceOf(line: MergedLogLine): string {
  return line.cluster === undefined ? line.name : `${line.cluster}/${line.namespace}/${line.name}`;
}

/** A `docker.logs` update's lines. */
export function lineEntries(data: Record<string, unknown>): Entry[] {
  return (data as { lines: LogLine[] }).lines.map((line) => ({
    kind: "line",
    time: line.time,
    stream: line.stream,
    text: line.text,
    level: levelOf(line.text, line.stream),
  }));
}

/** A `logs.merged` update's lines: each with its source, markers for joining and leaving. */
export function mergedEntries(data: Record<string, unknown>): Entry[] {
  return (data as { lines: MergedLogLine[] }).lines.map((line) => {
    const source = sourceOf(line);
    return line.marker
      ? { kind: line.marker, time: line.time, text: line.host ? `${source} ${line.marker} (on ${line.host})` : `${source} ${line.marker}`, level: "info", source }
      : {
          kind: "line",
          time: line.time,
          stream: line.stream,
          text: line.text,
          level: levelOf(line.text, line.stream),
          source,
          ...(line.late ? { late: true } : {}),
        };
  });
}

/** Distinct on a dark background, and apart from the level colours (red, yellow, grey). */
export const SOURCE_COLOURS = [
  "#58a6ff", "#3fb950", "#d2a8ff", "#ffa657", "#39c5cf",
  "#f778ba", "#a5d6ff", "#7ee787", "#e2c5ff", "#ffdf5d",
];

/** The sources of a merged view in the order they were first seen, each with its colour:
 * the first ten get a colour each, then the colours come round again. */
export class Sources {
  private readonly colours = new Map<string, string>();

  /** Note a source (seen in a line); its colour. */
  see(name: string): string {
    let colour = this.colours.get(name);
    if (colour === undefined) {
      colour = SOURCE_COLOURS[this.colours.size % SOURCE_COLOURS.length];
      this.colours.set(name, colour);
    }
    return colour;
  }

  colourOf(name: string): string | undefined {
    return this.colours.get(name);
  }

  get names(): string[] {
    return [...this.colours.keys()];
  }
}

/** A name glob (the gateway's `fnmatchcase`) for names with `filter` in them: `*filter*`,
 * its own `*`, `?` and `[` taken as themselves. */
export function nameGlob(filter: string): string {
  return `*${filter.replace(/[*?[]/g, "[$&]")}*`;
}

/** `hidden` with `name` shown if it was hidden and hidden if it was shown (a new set, for React state). */
export function toggled(hidden: ReadonlySet<string>, name: string): Set<string> {
  const next = new Set(hidden);
  if (!next.delete(name)) next.add(name);
  return next;
}

export interface Shown {
  upTo: number; // lines held when paused: the newer ones wait
  search: string;
  level: Level | "";
  hidden: ReadonlySet<string>;
}

/** The entries a viewer shows: lines that pass the search (text or source) and level,
 * markers always, except those of hidden sources. */
export function shownEntries(entries: Entry[], { upTo, search, level, hidden }: Shown): Entry[] {
  const needle = search.toLowerCase();
  return entries.slice(0, upTo).filter((e) => {
    if (e.source !== undefined && hidden.has(e.source)) return false;
    if (e.kind !== "line") return true;
    if (level && e.level !== level) return false;
    return !needle || e.text.toLowerCase().includes(needle) || (e.source?.toLowerCase().includes(needle) ?? false);
  });
}

/** The entries as text, as Copy and Download give them; a merged view's lines say when
 * and where from. */
export function entriesText(entries: Entry[]): string {
  const line = (e: Entry) => {
    if (e.kind !== "line") return `--- ${e.text} ---`;
    if (e.source === undefined) return e.text;
    return `${e.time} ${e.source}${e.late ? " (late)" : ""} ${e.text}`;
  };
  return entries.map(line).join("\n") + "\n";
}
