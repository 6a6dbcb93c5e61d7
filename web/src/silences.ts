// Silences (`/api/alerts/silences`): what a new one from an alert is made of, its
// window from a duration, and which of those in force match an alert (the alerter's
// matcher, read the same way: globs with `*` and `?`, every condition given).

import type { Alert } from "./stores";

export interface SilenceMatcher {
  alert_ids: string;
  hosts: string;
  sources: string[];
  labels: Record<string, string>;
}

export interface SilenceDraft {
  matcher: SilenceMatcher;
  starts?: string | null;
  ends: string;
  comment: string;
  maintenance?: boolean;
}

export interface Silence extends SilenceDraft {
  id: string;
  starts: string;
  created_by: string;
  created_at: string;
}

/** The durations offered, beside a custom one. */
export const DURATIONS: readonly { label: string; seconds: number }[] = [
  { label: "1 h", seconds: 3600 },
  { label: "4 h", seconds: 4 * 3600 },
  { label: "24 h", seconds: 24 * 3600 },
];

const UNITS: Record<string, number> = { m: 60, h: 3600, d: 86400 };

/** A custom duration as typed (`90m`, `2h`, `1d 12h`, `1h30m`), in seconds; null if it is
 * not one (or is zero). */
export function parseDuration(text: string): number | null {
  const compact = text.replace(/\s+/g, "").toLowerCase();
  if (!/^(\d+[mhd])+$/.test(compact)) return null;
  let seconds = 0;
  for (const [, count, unit] of compact.matchAll(/(\d+)([mhd])/g)) seconds += Number(count) * UNITS[unit];
  return seconds > 0 ? seconds : null;
}

/** The matcher of one alert: its id, on any host. */
export function matcherFor(alert: Alert): SilenceMatcher {
  return { alert_ids: alert.id, hosts: "*", sources: [], labels: {} };
}

/** A silence from now for `seconds`. */
export function draftFor(matcher: SilenceMatcher, seconds: number, comment: string, now: number = Date.now()): SilenceDraft {
  return { matcher, ends: new Date(now + seconds * 1000).toISOString(), comment };
}

function globMatches(glob: string, text: string): boolean {
  const pattern = [...glob].map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[.+^${}()|[\]\\/-]/g, "\\$&"))).join("");
  return new RegExp(`^${pattern}$`, "s").test(text);
}

/** Whether `matcher` takes in `alert`, as the alerter decides. */
export function matches(matcher: SilenceMatcher, alert: Alert): boolean {
  const host = alert.cluster || alert.host; // a Kubernetes alert: its cluster
  return (
    globMatches(matcher.alert_ids, alert.id) &&
    globMatches(matcher.hosts, host) &&
    (matcher.sources.length === 0 || matcher.sources.includes(alert.source)) &&
    Object.entries(matcher.labels).every(([key, value]) => alert.labels?.[key] === value)
  );
}

/** The silences in force at `now` that take in `alert`, the one ending last first. */
export function silencing(silences: readonly Silence[], alert: Alert, now: number = Date.now()): Silence[] {
  return silences
    .filter((s) => Date.parse(s.starts) <= now && Date.parse(s.ends) > now && matches(s.matcher, alert))
    .sort((a, b) => Date.parse(b.ends) - Date.parse(a.ends));
}

/** A matcher said in a few words: `host:h1:cpu`, `any alert on web*`, `… from rule, team=web`. */
export function describeMatcher(matcher: SilenceMatcher): string {
  const parts = [matcher.alert_ids === "*" ? "any alert" : matcher.alert_ids];
  if (matcher.hosts !== "*") parts.push(`on ${matcher.hosts}`);
  if (matcher.sources.length > 0) parts.push(`from ${matcher.sources.join(", ")}`);
  const labels = Object.entries(matcher.labels).map(([key, value]) => `${key}=${value}`);
  if (labels.length > 0) parts.push(`with ${labels.join(", ")}`);
  return parts.join(" ");
}
