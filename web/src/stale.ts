// Stale state: the gateway says when a sampled state's source stopped (`stale`, with
// the age of its newest value) and when values come again (`fresh`); stores keep the
// marks by host (or cluster) so views grey those figures.

import { type ChannelEvent, stateName } from "./stream/protocol";

/** How old the newest value of a state is, once the gateway marked it stale. */
export interface Staleness {
  ageS: number;
  /** When the mark came (ms since the epoch): the age goes on from there. */
  markedAt: number;
  /** Why, where the collector said its source is down. */
  reason?: string;
}

/** Seconds since a stale state's newest value, now. */
export function staleAge(stale: Staleness, now = Date.now()): number {
  return stale.ageS + (now - stale.markedAt) / 1000;
}

/** Marks a stale event sets, a fresh one clears, by host (or cluster); true if it was one. */
export function trackStale(stale: Map<string, Staleness>, event: ChannelEvent): boolean {
  if (event.type === "stale") {
    stale.set(stateName(event.key), { ageS: event.ageS, markedAt: Date.now(), reason: event.reason });
    return true;
  }
  if (event.type === "fresh") {
    stale.delete(stateName(event.key));
    return true;
  }
  return false;
}
