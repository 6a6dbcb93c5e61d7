// A state whose source stopped (its collector died): its figures stay on screen,
// greyed (`.stale`), and say how old they are, until fresh values come.

import { type Staleness, staleAge } from "../stale";

/** The class of a block of figures: `.stale` greys it while its state is stale. */
export function staleClass(base: string, stale: Staleness | undefined): string {
  return stale === undefined ? base : `${base} stale`;
}

export function StaleNote({ stale, now }: { stale: Staleness | undefined; now?: number }) {
  if (stale === undefined) return null;
  const age = Math.round(staleAge(stale, now));
  return (
    <span className="stale-note" data-testid="stale-note" title={stale.reason ?? "no new value: its collector stopped"}>
      stale · no data for {age} s{stale.reason ? ` · ${stale.reason}` : ""}
    </span>
  );
}
