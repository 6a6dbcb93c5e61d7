// Live / reconnecting / fallback / offline, always in view.

import { useEffect, useState } from "react";
import type { ConnectionState, StreamManager } from "../stream/manager";

const LABELS: Record<ConnectionState["status"], string> = {
  connecting: "connecting",
  live: "live",
  reconnecting: "reconnecting",
  fallback: "fallback",
  offline: "offline",
};

export function ConnectionIndicator({ manager }: { manager: StreamManager }) {
  const [state, setState] = useState<ConnectionState>(manager.state());
  const [, tick] = useState(0);
  useEffect(() => manager.onState(setState), [manager]);
  useEffect(() => {
    if (state.retryAt === null) return;
    const timer = window.setInterval(() => tick((n) => n + 1), 1000);
    return () => window.clearInterval(timer);
  }, [state.retryAt]);
  const seconds = state.retryAt === null ? null : Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000));
  const detail =
    state.status === "fallback"
      ? ` (${state.transport === "sse" ? "SSE" : "polling"})`
      : seconds !== null
        ? ` (retry in ${seconds} s)`
        : "";
  return (
    <span className={`indicator ${state.status}`} data-testid="connection" data-status={state.status} data-transport={state.transport}>
      <span className="dot" />
      {LABELS[state.status]}
      {detail}
    </span>
  );
}
