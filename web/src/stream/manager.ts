// StreamManager: one multiplexed socket for the whole app (seed 001's name).
//
// - Subscriptions live here, not on the socket: after a reconnect each is sent again,
//   stream and journal channels with the last cursor seen, so nothing is missed and
//   nothing is shown twice.
// - A lost socket is retried after 2, 5, 10, 30 s (with jitter). A socket that never
//   opens, several times in a row, means something between us and the gateway blocks
//   WebSockets: the manager falls back to Server-Sent Events (one stream a channel),
//   and when those fail too, to HTTP polling; meanwhile it tries a socket again now and
//   then and moves back to it once one opens.
// - Closed with 4001 (token expired or revoked): refresh the token, or ask for a login.
// - Refused for now (RATE_LIMITED, LIMIT_REACHED, UNAVAILABLE): asked again when the
//   gateway says, and the refusal is on the board (`onRefusals`) for the view to say so.
// - State deltas: applied to the snapshot they follow; a broken sequence re-subscribes.

import { backoffDelayMs, DEFAULT_DELAYS_S } from "./backoff";
import { applyDelta, type Snapshot } from "./deltas";
import type { Credentials, Environment, SocketLike } from "./environment";
import { type Feed, type FeedOwner, PollFeed, SseFeed } from "./feeds";
import { isRefusal, RefusalBoard, type RefusalCode, type RefusalListener } from "./refusals";
import {
  type AskFrame,
  type ChannelEvent,
  Close,
  channelKey,
  type Params,
  type ServerFrame,
} from "./protocol";

export type Status = "connecting" | "live" | "reconnecting" | "fallback" | "offline";
export type Transport = "websocket" | "sse" | "polling";

export interface Policy {
  delaysS: readonly number[];
  jitter: number;
  /** Sockets that never opened, in a row, before falling back to SSE. */
  socketFailuresBeforeFallback: number;
  /** SSE streams that never opened, in a row, before falling back to polling. */
  sseFailuresBeforePolling: number;
  /** While on a fallback, how often to try a socket again. */
  upgradeEveryMs: number;
  pollIntervalMs: number;
  /** Browsers allow about six HTTP/1.1 connections a host: channels past this many
   * are polled rather than streamed, so page loads and API calls still get through. */
  maxSseStreams: number;
  /** Refresh the token this long before it expires, and `reauth` the socket. */
  reauthBeforeMs: number;
}

export const DEFAULT_POLICY: Policy = {
  delaysS: DEFAULT_DELAYS_S,
  jitter: 0.2,
  socketFailuresBeforeFallback: 2,
  sseFailuresBeforePolling: 2,
  upgradeEveryMs: 30_000,
  pollIntervalMs: 2_000,
  maxSseStreams: 4,
  reauthBeforeMs: 60_000,
};

export type Listener = (event: ChannelEvent) => void;

interface Subscription {
  key: string;
  channel: string;
  params: Params;
  delta: boolean;
  cursor: number | undefined;
  listeners: Set<Listener>;
  snapshots: Map<string, Snapshot>;
  /** State keys the gateway marked stale (their source stopped), until `fresh`. */
  stale: Set<string>;
  feed: Feed | null;
  feedAttempt: number;
  retry: unknown;
  /** Subscribes refused UNAVAILABLE in a row (their retries back off). */
  unavailableAttempt: number;
}

/** A request sent and not yet answered: `key` is the subscription a `subscribe` is for
 * (null for anything else); `message` what went, to send again if it is refused for now. */
interface Pending {
  key: string | null;
  message: Record<string, unknown>;
}

export interface ConnectionState {
  status: Status;
  transport: Transport;
  /** When the next reconnect is due (ms since the epoch), while reconnecting. */
  retryAt: number | null;
}

export class StreamManager {
  private readonly policy: Policy;
  private readonly subscriptions = new Map<string, Subscription>();
  /** A channel as the gateway names it (`docker.logs` by short id) -> ours. */
  private readonly aliases = new Map<string, string>();
  /** Requests sent and not yet answered, in order (the gateway answers in order). */
  private pending: Pending[] = [];
  private readonly refusals = new RefusalBoard();
  private socket: SocketLike | null = null;
  private socketLive = false;
  private transport: Transport = "websocket";
  private status: Status = "connecting";
  private retryAt: number | null = null;
  private attempt = 0;
  private socketFailures = 0;
  private sseFailures = 0;
  private refreshedOnce = false;
  private deltasRefused = false;
  private timer: unknown = null;
  private reauthTimer: unknown = null;
  private started = false;
  private readonly stateListeners = new Set<(state: ConnectionState) => void>();
  private readonly askListeners = new Set<(ask: AskFrame) => void>();
  private readonly loggedOutListeners = new Set<() => void>();

  constructor(
    private readonly base: string,
    private readonly credentials: Credentials,
    private readonly env: Environment,
    policy: Partial<Policy> = {},
  ) {
    this.policy = { ...DEFAULT_POLICY, ...policy };
  }

  // -- the app's side ---------------------------------------------------------------

  start(): void {
    if (this.started) return;
    this.started = true;
    this.connect();
  }

  stop(): void {
    this.started = false;
    this.clearTimer();
    if (this.reauthTimer !== null) this.env.clearTimeout(this.reauthTimer);
    this.closeSocket(1000);
    for (const subscription of this.subscriptions.values()) this.closeFeed(subscription);
  }

  /** Listen to `channel`; the returned function stops listening. */
  subscribe(
    channel: string,
    params: Params,
    listener: Listener,
    options: { delta?: boolean; since?: number } = {},
  ): () => void {
    const key = channelKey(channel, params);
    let subscription = this.subscriptions.get(key);
    if (subscription === undefined) {
      subscription = {
        key,
        channel,
        params,
        delta: options.delta ?? false,
        cursor: options.since,
        listeners: new Set(),
        snapshots: new Map(),
        stale: new Set(),
        feed: null,
        feedAttempt: 0,
        retry: null,
        unavailableAttempt: 0,
      };
      this.subscriptions.set(key, subscription);
      this.open(subscription);
    }
    subscription.listeners.add(listener);
    const owned = subscription;
    return () => {
      owned.listeners.delete(listener);
      if (owned.listeners.size > 0 || this.subscriptions.get(key) !== owned) return;
      this.subscriptions.delete(key);
      if (owned.retry !== null) this.env.clearTimeout(owned.retry);
      this.refusals.clear(key);
      this.closeFeed(owned);
      if (this.socketLive) this.request(null, { type: "unsubscribe", channel, params });
    };
  }

  /** Answer a question the gateway asked (`ask`), once. */
  answer(requestId: string, data: Record<string, unknown>): void {
    this.send({ type: "answer", requestId, data });
  }

  onState(listener: (state: ConnectionState) => void): () => void {
    this.stateListeners.add(listener);
    listener(this.state());
    return () => this.stateListeners.delete(listener);
  }

  onAsk(listener: (ask: AskFrame) => void): () => void {
    this.askListeners.add(listener);
    return () => this.askListeners.delete(listener);
  }

  /** The channels the gateway refused for now, by subscription key (`channelKey`):
   * told at once and on every change. */
  onRefusals(listener: RefusalListener): () => void {
    return this.refusals.onChange(listener);
  }

  onLoggedOut(listener: () => void): () => void {
    this.loggedOutListeners.add(listener);
    return () => this.loggedOutListeners.delete(listener);
  }

  state(): ConnectionState {
    return { status: this.status, transport: this.transport, retryAt: this.retryAt };
  }

  // -- the socket -------------------------------------------------------------------

  private connect(): void {
    this.timer = null;
    const token = this.credentials.token();
    if (token === null) return this.loggedOut();
    const scheme = this.base.startsWith("https") ? "wss" : "ws";
    const url = this.base.replace(/^https?/, scheme) + "/ws";
    const socket = this.env.openSocket(url, ["vigil", `bearer.${token}`]);
    this.socket = socket;
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      this.receive(JSON.parse(String(event.data)) as ServerFrame, null);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.closed(event.code);
    };
  }

  private live(): void {
    const upgraded = this.transport !== "websocket";
    this.socketLive = true;
    this.transport = "websocket";
    this.attempt = 0;
    this.socketFailures = 0;
    this.sseFailures = 0;
    this.refreshedOnce = false;
    this.aliases.clear();
    this.pending = [];
    this.refusals.clearAll(); // the old socket's: each is asked again now
    this.setStatus("live", null);
    for (const subscription of this.subscriptions.values()) {
      if (upgraded) this.closeFeed(subscription);
      if (subscription.retry !== null) this.env.clearTimeout(subscription.retry);
      subscription.retry = null;
      this.sendSubscribe(subscription);
    }
    this.scheduleReauth();
  }

  private closed(code: number): void {
    const wasLive = this.socketLive;
    this.socketLive = false;
    if (!this.started) return;
    if (code === Close.invalidCredentials || code === Close.noCredentials) {
      return void this.reauthenticate(() => this.reconnectSoon());
    }
    if (this.transport !== "websocket") return this.scheduleUpgrade();
    this.socketFailures = wasLive ? 0 : this.socketFailures + 1;
    if (this.socketFailures >= this.policy.socketFailuresBeforeFallback) {
      return this.fallBack("sse");
    }
    this.scheduleReconnect();
  }

  private reconnectSoon(): void {
    if (this.transport === "websocket") this.connect();
    else for (const subscription of this.subscriptions.values()) this.reopenFeed(subscription);
  }

  private scheduleReconnect(): void {
    const delay = this.delay(this.attempt);
    const exhausted = this.attempt >= this.policy.delaysS.length - 1;
    this.attempt += 1;
    this.setStatus(exhausted ? "offline" : "reconnecting", this.env.now() + delay);
    this.clearTimer();
    this.timer = this.env.setTimeout(() => this.connect(), delay);
  }

  private scheduleUpgrade(): void {
    this.clearTimer();
    this.timer = this.env.setTimeout(() => this.connect(), this.policy.upgradeEveryMs);
  }

  private async reauthenticate(then: () => void): Promise<void> {
    if (!this.started) return;
    if (this.refreshedOnce) return this.loggedOut(); // a fresh token was refused too
    this.refreshedOnce = true;
    let ok: boolean;
    try {
      ok = await this.credentials.refresh();
    } catch {
      // The auth service could not answer (not a refusal): keep the session, try later.
      this.refreshedOnce = false;
      const delay = this.delay(this.attempt);
      this.attempt += 1;
      this.setStatus("reconnecting", this.env.now() + delay);
      this.env.setTimeout(() => void this.reauthenticate(then), delay);
      return;
    }
    if (!this.started) return;
    if (ok) then();
    else this.loggedOut();
  }

  private scheduleReauth(): void {
    if (this.reauthTimer !== null) this.env.clearTimeout(this.reauthTimer);
    const expires = this.credentials.expiresAtMs();
    if (expires === null) return;
    const wait = Math.max(5_000, expires - this.env.now() - this.policy.reauthBeforeMs);
    this.reauthTimer = this.env.setTimeout(async () => {
      this.reauthTimer = null;
      const ok = await this.credentials.refresh().catch(() => false); // 4001 comes later
      const token = this.credentials.token();
      if (ok && token !== null && this.socketLive) this.request(null, { type: "reauth", token });
      if (ok) this.scheduleReauth();
    }, wait);
  }

  private sendSubscribe(subscription: Subscription): void {
    const message: Record<string, unknown> = {
      type: "subscribe",
      channel: subscription.channel,
      params: subscription.params,
    };
    if (subscription.cursor !== undefined) message.since = subscription.cursor;
    if (subscription.delta && !this.deltasRefused) message.delta = true;
    subscription.snapshots.clear();
    this.request(subscription.key, message);
  }

  private request(key: string | null, message: Record<string, unknown>): void {
    if (!this.socketLive) return;
    this.pending.push({ key, message });
    this.send(message);
  }

  private send(message: Record<string, unknown>): void {
    if (this.socket !== null && this.socketLive) this.socket.send(JSON.stringify(message));
  }

  private closeSocket(code: number): void {
    const socket = this.socket;
    this.socket = null;
    this.socketLive = false;
    socket?.close(code);
  }

  // -- frames, from any transport -------------------------------------------------------

  /** `via`: the subscription a feed serves (SSE and polling carry one channel each). */
  private receive(frame: ServerFrame, via: Subscription | null): void {
    switch (frame.type) {
      case "connected":
        return this.live();
      case "ping":
        return this.send({ type: "pong" });
      case "subscribed": {
        if (via !== null) return;
        const ours = this.pending.shift()?.key;
        if (typeof ours === "string" && ours !== frame.channel) this.aliases.set(frame.channel, ours);
        // Subscribed again (a new socket): the gateway marks what is still stale right
        // after the snapshot, so the old marks are dropped.
        const again = typeof ours === "string" ? this.subscriptions.get(ours) : undefined;
        if (again !== undefined) {
          this.forgetStale(again);
          again.unavailableAttempt = 0;
          this.refusals.clear(again.key);
        }
        return;
      }
      case "unsubscribed":
        if (via !== null) return;
        this.pending.shift();
        return this.slotFreed();
      case "reauthenticated":
        if (via === null) this.pending.shift();
        return;
      case "update": {
        const subscription = via ?? this.find(frame.channel);
        if (subscription === undefined) return;
        this.dataCame(subscription);
        const cursor = frame.cursor ?? undefined;
        if (cursor !== undefined) {
          if (subscription.cursor !== undefined && cursor <= subscription.cursor) return;
          subscription.cursor = cursor;
        }
        if (frame.key !== undefined && frame.seq !== undefined) {
          subscription.snapshots.set(frame.key, { seq: frame.seq, data: frame.data });
        }
        return this.emit(subscription, { type: "update", data: frame.data, cursor, key: frame.key });
      }
      case "delta": {
        const subscription = via ?? this.find(frame.channel);
        if (subscription === undefined) return;
        this.dataCame(subscription);
        const next = applyDelta(subscription.snapshots.get(frame.key), frame);
        if (next === null) return this.resubscribe(subscription);
        subscription.snapshots.set(frame.key, next);
        return this.emit(subscription, { type: "update", data: next.data, key: frame.key });
      }
      case "gap": {
        const subscription = via ?? this.find(frame.channel);
        if (subscription === undefined) return;
        this.dataCame(subscription);
        return this.emit(subscription, frame);
      }
      case "reset": {
        const subscription = via ?? this.find(frame.channel);
        if (subscription === undefined) return;
        this.dataCame(subscription);
        subscription.cursor = frame.first_cursor - 1;
        return this.emit(subscription, {
          type: "reset",
          since: frame.since,
          firstCursor: frame.first_cursor,
        });
      }
      case "stale": {
        const subscription = via ?? this.find(frame.channel);
        if (subscription === undefined) return;
        subscription.stale.add(frame.key);
        return this.emit(subscription, {
          type: "stale",
          key: frame.key,
          ageS: frame.age_s,
          intervalS: frame.interval_s,
          reason: frame.reason,
        });
      }
      case "fresh": {
        const subscription = via ?? this.find(frame.channel);
        if (subscription !== undefined) this.dataCame(subscription);
        if (subscription === undefined || !subscription.stale.delete(frame.key)) return;
        return this.emit(subscription, { type: "fresh", key: frame.key });
      }
      case "ask":
        for (const listener of this.askListeners) listener(frame);
        return;
      case "error":
        return this.refused(frame, via);
      default:
        return;
    }
  }

  private refused(
    frame: Extract<ServerFrame, { type: "error" }>,
    via: Subscription | null,
  ): void {
    // An answer to a request says how many requests remain; anything else is news.
    const answer = via === null && frame.remaining !== undefined && frame.remaining !== null;
    if (via === null && !answer) return this.news(frame);
    let subscription = via;
    if (answer) {
      const request = this.pending.shift();
      if (request === undefined) return;
      if (request.key === null) {
        // An unsubscribe or a reauth refused for now: it goes again when the gateway says.
        if (frame.code === "RATE_LIMITED") this.sendLater(request.message, frame.retry_after_s ?? 1);
        return;
      }
      subscription = this.subscriptions.get(request.key) ?? null;
    }
    if (subscription === null) return;
    if (answer && isRefusal(frame.code)) {
      return this.refusedForNow(subscription, frame.code, frame.message, frame.retry_after_s);
    }
    if (frame.code === "UNAVAILABLE") return this.unavailable(subscription, frame.message, "channel");
    this.emit(subscription, { type: "error", code: frame.code, message: frame.message });
  }

  /** An error that answers no request: the bus is away (for every channel, or for the
   * one it names; data resumes by itself), or a message the gateway could not read at
   * all, such as `delta` before it had deltas. */
  private news(frame: Extract<ServerFrame, { type: "error" }>): void {
    if (frame.code === "INVALID_MESSAGE" && /delta/.test(frame.message)) return this.withoutDeltas();
    if (frame.code !== "UNAVAILABLE") return;
    if (frame.channel) {
      const named = this.find(frame.channel);
      if (named !== undefined) this.unavailable(named, frame.message, "channel");
      return;
    }
    for (const subscription of this.subscriptions.values()) {
      this.unavailable(subscription, frame.message, "bus");
    }
  }

  private unavailable(subscription: Subscription, message: string, scope: "channel" | "bus"): void {
    this.refusals.set(subscription.key, { code: "UNAVAILABLE", message, retryAt: null, scope });
  }

  /** A subscribe refused for now: asked again after `retry_after_s` (RATE_LIMITED, and
   * UNAVAILABLE, which else backs off), or once one of ours frees a slot (LIMIT_REACHED). */
  private refusedForNow(
    subscription: Subscription,
    code: RefusalCode,
    message: string,
    retryAfterS: number | null | undefined,
  ): void {
    if (subscription.retry !== null) this.env.clearTimeout(subscription.retry);
    subscription.retry = null;
    let retryAt: number | null = null;
    if (code !== "LIMIT_REACHED") {
      const wait =
        retryAfterS != null
          ? retryAfterS * 1000
          : code === "RATE_LIMITED"
            ? 1000
            : this.delay(subscription.unavailableAttempt++);
      retryAt = this.env.now() + wait;
      const owned = subscription;
      owned.retry = this.env.setTimeout(() => {
        owned.retry = null;
        if (this.subscriptions.get(owned.key) === owned) this.sendSubscribe(owned);
      }, wait);
    }
    this.refusals.set(subscription.key, { code, message, retryAt, scope: "channel" });
  }

  /** One of our subscriptions went: a subscribe refused for want of a slot goes again. */
  private slotFreed(): void {
    for (const subscription of this.subscriptions.values()) {
      if (this.refusals.get(subscription.key)?.code === "LIMIT_REACHED") {
        return this.sendSubscribe(subscription);
      }
    }
  }

  /** Data on a channel: it is not unavailable any more, nor is the bus. */
  private dataCame(subscription: Subscription): void {
    if (this.refusals.get(subscription.key)?.code === "UNAVAILABLE") this.refusals.clear(subscription.key);
    this.refusals.clearBus();
  }

  /** A request refused for now, sent again after `afterS` on the same socket (a new one
   * starts afresh) — an unsubscribe only if nobody subscribed to its channel since. */
  private sendLater(message: Record<string, unknown>, afterS: number): void {
    const socket = this.socket;
    this.env.setTimeout(() => {
      if (this.socket !== socket) return;
      if (message.type === "unsubscribe") {
        const key = channelKey(String(message.channel), message.params as Params);
        if (this.subscriptions.has(key)) return;
      }
      this.request(null, message);
    }, afterS * 1000);
  }

  /** A gateway without state deltas: ask again for whole snapshots. */
  private withoutDeltas(): void {
    this.deltasRefused = true;
    const index = this.pending.findIndex(
      ({ key }) => key !== null && this.subscriptions.get(key)?.delta === true,
    );
    if (index < 0) return;
    const [{ key }] = this.pending.splice(index, 1);
    const subscription = this.subscriptions.get(key as string);
    if (subscription !== undefined) this.sendSubscribe(subscription);
  }

  private resubscribe(subscription: Subscription): void {
    if (!this.socketLive) return;
    const { channel, params } = subscription;
    this.request(null, { type: "unsubscribe", channel, params });
    this.sendSubscribe(subscription);
  }

  private find(channel: string): Subscription | undefined {
    return this.subscriptions.get(this.aliases.get(channel) ?? channel);
  }

  private forgetStale(subscription: Subscription): void {
    for (const key of subscription.stale) this.emit(subscription, { type: "fresh", key });
    subscription.stale.clear();
  }

  private emit(subscription: Subscription, event: ChannelEvent): void {
    for (const listener of subscription.listeners) listener(event);
  }

  // -- the fallbacks ----------------------------------------------------------------

  private fallBack(transport: "sse" | "polling"): void {
    this.transport = transport;
    this.setStatus("fallback", null);
    for (const subscription of this.subscriptions.values()) this.reopenFeed(subscription);
    this.scheduleUpgrade();
  }

  private open(subscription: Subscription): void {
    if (this.transport === "websocket") {
      if (this.socketLive) this.sendSubscribe(subscription);
    } else {
      this.reopenFeed(subscription);
    }
  }

  private reopenFeed(subscription: Subscription): void {
    this.closeFeed(subscription);
    const token = this.credentials.token();
    if (token === null) return this.loggedOut();
    if (this.transport === "polling") return this.poll(subscription);
    // The newest subscriptions (what the view in front opened) stream; when that is
    // more than the browser allows, the oldest streamed one is polled instead.
    const streamed = [...this.subscriptions.values()].filter((s) => s.feed?.transport === "sse");
    if (streamed.length >= this.policy.maxSseStreams) this.poll(streamed[0]);
    subscription.feed = new SseFeed(this.env, this.base, subscription, token, this.feedOwner(subscription));
  }

  private poll(subscription: Subscription): void {
    this.closeFeed(subscription);
    subscription.feed = new PollFeed(
      this.env,
      this.base,
      subscription,
      () => this.credentials.token(),
      this.policy.pollIntervalMs,
      this.feedOwner(subscription),
    );
  }

  private closeFeed(subscription: Subscription): void {
    subscription.feed?.close();
    subscription.feed = null;
  }

  private feedOwner(subscription: Subscription): FeedOwner {
    return {
      frame: (frame) => this.receive(frame, subscription),
      opened: () => {
        if (this.refusals.get(subscription.key)?.scope === "channel") this.refusals.clear(subscription.key);
        subscription.feedAttempt = 0;
        this.refreshedOnce = false;
        if (subscription.feed?.transport === "sse") this.sseFailures = 0;
        if (this.status !== "fallback") this.setStatus("fallback", null);
      },
      refused: (code, message, retryAfterS) => {
        const retryAt = this.env.now() + retryAfterS * 1000;
        this.refusals.set(subscription.key, { code, message, retryAt, scope: "channel" });
      },
      failed: (code, opened) => {
        subscription.feed = null;
        if (!this.started || this.subscriptions.get(subscription.key) !== subscription) return;
        if (this.transport === "websocket") return;
        if (code === Close.invalidCredentials) {
          return void this.reauthenticate(() => this.reopenFeed(subscription));
        }
        if (!opened && this.transport === "sse") {
          this.sseFailures += 1;
          if (this.sseFailures >= this.policy.sseFailuresBeforePolling) {
            return this.fallBack("polling");
          }
        }
        const delay = this.delay(subscription.feedAttempt);
        subscription.feedAttempt += 1;
        if (subscription.feedAttempt >= this.policy.delaysS.length) {
          this.setStatus("offline", this.env.now() + delay);
        }
        subscription.retry = this.env.setTimeout(() => {
          subscription.retry = null;
          if (this.subscriptions.get(subscription.key) === subscription) {
            this.reopenFeed(subscription);
          }
        }, delay);
      },
    };
  }

  // -- bookkeeping ------------------------------------------------------------------

  private delay(attempt: number): number {
    return backoffDelayMs(attempt, this.policy.delaysS, this.policy.jitter, () =>
      this.env.random(),
    );
  }

  private clearTimer(): void {
    if (this.timer !== null) this.env.clearTimeout(this.timer);
    this.timer = null;
  }

  private setStatus(status: Status, retryAt: number | null): void {
    this.status = status;
    this.retryAt = retryAt;
    const state = this.state();
    for (const listener of this.stateListeners) listener(state);
  }

  private loggedOut(): void {
    this.stop();
    this.setStatus("offline", null);
    for (const listener of this.loggedOutListeners) listener();
  }
}
