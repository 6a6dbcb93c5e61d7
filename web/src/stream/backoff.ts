// Reconnect delays: 2, 5, 10, 30 s (seed 001), each with jitter so that a gateway's
// clients do not all come back in the same instant.

export const DEFAULT_DELAYS_S = [2, 5, 10, 30];

/** The wait before reconnect `attempt` (0 = the first retry): the schedule's step (the
 * last one repeats), spread uniformly over ±`jitter` of itself. */
export function backoffDelayMs(
  attempt: number,
  delaysS: readonly number[] = DEFAULT_DELAYS_S,
  jitter = 0.2,
  random: () => number = Math.random,
): number {
  const base = delaysS[Math.min(attempt, delaysS.length - 1)] * 1000;
  return Math.round(base * (1 - jitter + 2 * jitter * random()));
}
