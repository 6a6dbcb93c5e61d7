// The client protocol's frames as the dashboard reads them (docs/protocol.md is the
// source; these mirror the models in libs/vigil/src/vigil/messages/client.py).

export type Params = Record<string, string>;

export interface UpdateFrame {
  type: "update";
  channel: string;
  data: Record<string, unknown>;
  cursor?: number | null;
  /** State deltas: which state of the channel (one per host) and its sequence. */
  key?: string;
  seq?: number;
}

export interface DeltaFrame {
  type: "delta";
  channel: string;
  key: string;
  seq: number;
  set?: Record<string, unknown>;
  unset?: string[];
  items?: string;
  changed?: Record<string, Record<string, unknown>>;
  added?: Record<string, unknown>[];
  removed?: string[];
  order?: string[];
  timestamp?: string;
}

/** A sampled state (`key`: its subject, e.g. `metrics.host.web1`) whose source stopped:
 * its newest value is not live until a `fresh` frame for the same key. */
export interface StaleFrame {
  type: "stale";
  channel: string;
  key: string;
  age_s: number;
  interval_s: number;
  /** Where it was marked at once: why (the Docker engine does not answer, the message bus is unavailable…). */
  reason?: string;
}

export interface AskFrame {
  type: "ask";
  requestId: string;
  kind: string;
  question: string;
  data: Record<string, unknown>;
  timeout_s: number;
}

// Every frame of `SERVER_FRAMES` (tests/unit/test_web_protocol.py holds the two together),
// and `delta`, which state deltas add.
export type ServerFrame =
  | { type: "connected"; connection_id: string; server_time: string; heartbeat_interval_s: number }
  | { type: "subscribed"; channel: string; kind: string; remaining?: number | null }
  | { type: "unsubscribed"; channel: string; remaining?: number | null }
  | UpdateFrame
  | DeltaFrame
  /** A subscription's `history_s`: its last seconds (a HistorySeries) before the snapshot. */
  | { type: "history"; channel: string; data: Record<string, unknown> }
  | { type: "gap"; channel: string; dropped: number }
  | { type: "reset"; channel: string; since: number; first_cursor: number }
  | StaleFrame
  | { type: "fresh"; channel: string; key: string }
  | { type: "ping"; time: string }
  | { type: "pong"; time: string; remaining?: number | null }
  | { type: "reauthenticated"; expires_at: string | null; remaining?: number | null }
  | AskFrame
  | {
      type: "error";
      code: string;
      message: string;
      channel?: string | null;
      remaining?: number | null;
      retry_after_s?: number | null;
    }
  | { type: "system_metric" | "alert"; data: unknown };

/** What a subscriber of a channel is told. */
export type ChannelEvent =
  | { type: "update"; data: Record<string, unknown>; cursor?: number | null; key?: string }
  | { type: "gap"; dropped: number }
  | { type: "reset"; since: number; firstCursor: number }
  | { type: "stale"; key: string; ageS: number; intervalS: number; reason?: string }
  | { type: "fresh"; key: string }
  | { type: "error"; code: string; message: string };

/** Which host (or cluster) a state `key` is: its subject's last token
 * (`metrics.host.web1` -> `web1`; names never hold a dot). */
export function stateName(key: string): string {
  return key.slice(key.lastIndexOf(".") + 1);
}

/** How a channel is named on the wire: `host.metrics` or `docker.logs?container=a&host=b`
 * (parameters sorted, as the gateway's `ChannelRef.key`). */
export function channelKey(channel: string, params: Params = {}): string {
  const names = Object.keys(params).sort();
  if (names.length === 0) return channel;
  return channel + "?" + names.map((name) => `${name}=${params[name]}`).join("&");
}

/** Close codes the manager treats specially (docs/protocol.md, "Close codes"). */
export const Close = {
  noCredentials: 1008,
  restarting: 1012,
  tryLater: 1013,
  invalidCredentials: 4001,
  replaced: 4004,
} as const;
