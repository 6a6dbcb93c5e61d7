// The fallbacks: one channel over Server-Sent Events, or by HTTP polling. A feed hands
// each frame (the same JSON a socket would carry) to its owner and says when it opened
// or failed; the owner decides what happens next.

import type { Environment, EventSourceLike } from "./environment";
import type { Params, ServerFrame } from "./protocol";
import { isRefusal, type RefusalCode } from "./refusals";

export interface FeedOwner {
  frame(frame: ServerFrame): void;
  /** The feed works (an SSE stream opened, a poll answered). */
  opened(): void;
  /** The gateway refused a poll for now (429, 503): the feed asks again after
   * `retryAfterS` by itself. */
  refused(code: RefusalCode, message: string, retryAfterS: number): void;
  /** The feed stopped: `code` is the gateway's close code when it said one; `opened`
   * whether it had ever worked. The feed is closed already. */
  failed(code: number | undefined, opened: boolean): void;
}

export interface Feed {
  readonly transport: "sse" | "polling";
  close(): void;
}

export interface FeedTarget {
  channel: string;
  params: Params;
  cursor: number | undefined;
}

function query(params: Record<string, string | undefined>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined) search.set(name, value);
  }
  const text = search.toString();
  return text ? "?" + text : "";
}

export class SseFeed implements Feed {
  readonly transport = "sse";
  private source: EventSourceLike | null;
  private didOpen = false;

  constructor(env: Environment, base: string, target: FeedTarget, token: string, owner: FeedOwner) {
    const since = target.cursor === undefined ? undefined : String(target.cursor);
    const url =
      `${base}/sse/channels/${encodeURIComponent(target.channel)}` +
      query({ ...target.params, since, token });
    const source = env.openEventSource(url);
    this.source = source;
    source.onopen = () => {
      this.didOpen = true;
      owner.opened();
    };
    source.onmessage = (event) => owner.frame(JSON.parse(event.data) as ServerFrame);
    source.addEventListener("close", (event) => {
      const { code } = JSON.parse(event.data) as { code: number };
      this.stop(owner, code);
    });
    // The browser would retry by itself with Last-Event-ID, but with the token it
    // opened with; the owner retries with a fresh token and its own backoff instead.
    source.onerror = () => this.stop(owner, undefined);
  }

  private stop(owner: FeedOwner, code: number | undefined): void {
    if (this.source === null) return;
    this.close();
    owner.failed(code, this.didOpen);
  }

  close(): void {
    this.source?.close();
    this.source = null;
  }
}

/** A poll's answer (docs/protocol.md): frames, the next cursor, stale states. */
interface PollPage {
  channel: string;
  messages: ServerFrame[];
  next_cursor?: number;
  stale?: { key: string; age_s: number; interval_s: number; reason?: string }[];
}

export class PollFeed implements Feed {
  readonly transport = "polling";
  private timer: unknown = null;
  private closed = false;
  private etag: string | null = null;
  private didOpen = false;
  /** State keys the last answer listed as stale. */
  private stale = new Set<string>();

  constructor(
    private readonly env: Environment,
    private readonly base: string,
    private readonly target: FeedTarget,
    private readonly token: () => string | null,
    private readonly intervalMs: number,
    private readonly owner: FeedOwner,
  ) {
    void this.poll();
  }

  private async poll(): Promise<void> {
    const { channel, params, cursor } = this.target;
    const since = cursor === undefined ? undefined : String(cursor);
    const url =
      `${this.base}/api/poll/channels/${encodeURIComponent(channel)}` + query({ ...params, since });
    const headers: Record<string, string> = { Authorization: `Bearer ${this.token() ?? ""}` };
    if (this.etag !== null) headers["If-None-Match"] = this.etag;
    let response: Response;
    try {
      response = await this.env.fetch(url, { headers });
    } catch {
      return this.fail(undefined);
    }
    if (this.closed) return;
    if (response.status === 401) return this.fail(4001);
    if (response.status === 429 || response.status === 503) {
      const refusal = await refusalOf(response);
      if (this.closed) return;
      if (refusal !== null) {
        this.owner.refused(refusal.code, refusal.message, refusal.retryAfterS);
        this.timer = this.env.setTimeout(() => void this.poll(), Math.max(this.intervalMs, refusal.retryAfterS * 1000));
        return;
      }
    }
    if (response.status !== 200 && response.status !== 304) return this.fail(undefined);
    if (response.status === 200) {
      this.etag = response.headers.get("ETag");
      const page = (await response.json()) as PollPage;
      if (this.closed) return;
      // A state no longer listed stale is fresh again (before its value); marks after.
      const marks = page.stale ?? [];
      const stale = new Set(marks.map((mark) => mark.key));
      for (const key of this.stale) {
        if (!stale.has(key)) this.owner.frame({ type: "fresh", channel: page.channel, key });
      }
      for (const message of page.messages) this.owner.frame(message);
      for (const mark of marks) {
        if (!this.stale.has(mark.key)) this.owner.frame({ type: "stale", channel: page.channel, ...mark });
      }
      this.stale = stale;
      if (page.next_cursor !== undefined) this.target.cursor = page.next_cursor;
    }
    this.didOpen = true;
    this.owner.opened();
    this.timer = this.env.setTimeout(() => void this.poll(), this.intervalMs);
  }

  private fail(code: number | undefined): void {
    if (this.closed) return;
    this.close();
    this.owner.failed(code, this.didOpen);
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) this.env.clearTimeout(this.timer);
    this.timer = null;
  }
}

/** A gateway's "not now" to an HTTP request (`{"detail": {"code", "message"}}` and
 * `Retry-After`), or null for any other failure (a proxy's own 503, say). */
async function refusalOf(
  response: Response,
): Promise<{ code: RefusalCode; message: string; retryAfterS: number } | null> {
  let detail: { code?: unknown; message?: unknown };
  try {
    detail = ((await response.json()) as { detail?: typeof detail }).detail ?? {};
  } catch {
    return null;
  }
  if (typeof detail.code !== "string" || !isRefusal(detail.code)) return null;
  const retryAfterS = Number(response.headers.get("Retry-After") ?? "1") || 1;
  return { code: detail.code, message: String(detail.message ?? ""), retryAfterS };
}
