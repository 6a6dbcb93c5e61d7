// Refusals: the gateway said "not now" to a channel — RATE_LIMITED (too many requests;
// `retry_after_s` says when), LIMIT_REACHED (too many subscriptions on the socket) or
// UNAVAILABLE (the bus or a service is away). Unlike NOT_FOUND or FORBIDDEN these pass:
// the manager asks again (after `retry_after_s`, when one of its subscriptions frees a
// slot, or as data comes back), and meanwhile the view says why it is empty or frozen
// and when it tries again — never a silent empty view.

export const REFUSAL_CODES = ["RATE_LIMITED", "LIMIT_REACHED", "UNAVAILABLE"] as const;
export type RefusalCode = (typeof REFUSAL_CODES)[number];

export function isRefusal(code: string): code is RefusalCode {
  return (REFUSAL_CODES as readonly string[]).includes(code);
}

export interface Refusal {
  code: RefusalCode;
  /** The gateway's own words. */
  message: string;
  /** When the manager asks again (ms since the epoch); null when something else ends it
   * (a slot frees, the bus comes back). */
  retryAt: number | null;
  /** "bus": the gateway said the whole bus is away, so data on any channel proves it
   * back; "channel": this channel alone. */
  scope: "channel" | "bus";
}

export type RefusalListener = (refusals: ReadonlyMap<string, Refusal>) => void;

/** The refusals in force, by subscription key, and who listens to them. */
export class RefusalBoard {
  private readonly byKey = new Map<string, Refusal>();
  private readonly listeners = new Set<RefusalListener>();

  get(key: string): Refusal | undefined {
    return this.byKey.get(key);
  }

  set(key: string, refusal: Refusal): void {
    this.byKey.set(key, refusal);
    this.changed();
  }

  /** The refusal of `key` is over (answered, data came, unsubscribed). */
  clear(key: string): void {
    if (this.byKey.delete(key)) this.changed();
  }

  /** Data came on some channel: the bus is back, so every "bus is away" notice goes. */
  clearBus(): void {
    let cleared = false;
    for (const [key, refusal] of this.byKey) {
      if (refusal.scope === "bus") cleared = this.byKey.delete(key);
    }
    if (cleared) this.changed();
  }

  clearAll(): void {
    if (this.byKey.size === 0) return;
    this.byKey.clear();
    this.changed();
  }

  onChange(listener: RefusalListener): () => void {
    this.listeners.add(listener);
    listener(this.snapshot());
    return () => this.listeners.delete(listener);
  }

  snapshot(): ReadonlyMap<string, Refusal> {
    return new Map(this.byKey);
  }

  private changed(): void {
    const snapshot = this.snapshot();
    for (const listener of this.listeners) listener(snapshot);
  }
}

const WHAT: Record<RefusalCode, string> = {
  RATE_LIMITED: "The gateway refused this for now",
  LIMIT_REACHED: "The gateway refused this",
  UNAVAILABLE: "Not live",
};

/** A refusal as a view says it: what, the gateway's reason, and what happens next. */
export function refusalText(refusal: Refusal, now: number): string {
  const reason = `${WHAT[refusal.code]} (${refusal.code}: ${refusal.message.replace(/[.\s]+$/, "")}).`;
  if (refusal.retryAt !== null) {
    const seconds = Math.ceil((refusal.retryAt - now) / 1000);
    return `${reason} ${seconds > 0 ? `Trying again in ${seconds} s.` : "Trying again…"}`;
  }
  if (refusal.code === "LIMIT_REACHED") return `${reason} It is tried again when another view closes.`;
  return `${reason} It resumes by itself.`;
}
