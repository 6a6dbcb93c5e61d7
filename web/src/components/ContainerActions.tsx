// Buttons for a container's actions (operators): each one a POST to the deployer of its
// host through the gateway. Kill and remove are asked first: the question comes on the
// socket (AskDialog). The container's state, shown live beside them, comes from
// docker.status as the engine changes it; the answer here says what was done.

import { useState } from "react";
import type { Session } from "../session";

const ACTIONS: Record<string, readonly string[]> = {
  running: ["stop", "restart", "pause", "kill"],
  paused: ["unpause", "kill"],
  restarting: ["stop", "kill"],
};
const STOPPED = ["start", "remove"] as const;

interface Acted {
  outcome: "done" | "declined";
  state: string;
  detail: string;
  action: string;
}

export function ContainerActions({
  session,
  host,
  id,
  status,
}: {
  session: Session;
  host: string;
  id: string;
  status: string | undefined;
}) {
  const [busy, setBusy] = useState<string | null>(null);
  const [said, setSaid] = useState<string | null>(null);
  const offered = status === undefined ? [] : (ACTIONS[status] ?? STOPPED);

  const act = async (action: string) => {
    setBusy(action);
    setSaid(null);
    try {
      const acted = await session.api<Acted>(
        `/api/docker/${encodeURIComponent(host)}/containers/${encodeURIComponent(id)}/actions`,
        { method: "POST", body: JSON.stringify({ action }) },
      );
      setSaid(acted.outcome === "done" ? `${action}: done (${acted.state})` : `${action}: ${acted.detail}`);
    } catch (exc) {
      setSaid(`${action}: ${(exc as Error).message}`);
    } finally {
      setBusy(null);
    }
  };

  return (
    <div className="container-actions" data-testid="container-actions">
      {offered.map((action) => (
        <button
          key={action}
          className={action === "remove" || action === "kill" ? "danger" : undefined}
          disabled={busy !== null}
          onClick={() => void act(action)}
        >
          {busy === action ? `${action}…` : action}
        </button>
      ))}
      {said && (
        <span className="muted" role="status" data-testid="action-result">
          {said}
        </span>
      )}
    </div>
  );
}
