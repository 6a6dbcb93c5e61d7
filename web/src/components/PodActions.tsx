// A pod's actions (operators): delete it (asked first, in the confirmation dialog), and
// for a pod of a Deployment or StatefulSet, restart its workload's rollout or scale it.
// Each is a POST to the deployer of the cluster through the gateway.

import { useState } from "react";
import type { Session } from "../session";

const SCALABLE: Record<string, string> = { Deployment: "deployment", StatefulSet: "statefulset" };

interface Acted {
  outcome: "done" | "declined";
  detail: string;
}

export function PodActions({
  session,
  cluster,
  namespace,
  pod,
  owner,
}: {
  session: Session;
  cluster: string;
  namespace: string;
  pod: string;
  owner?: { kind: string; name: string } | null;
}) {
  const [busy, setBusy] = useState(false);
  const [said, setSaid] = useState<string | null>(null);
  const [replicas, setReplicas] = useState("1");
  const workloadKind = owner ? SCALABLE[owner.kind] : undefined;

  const act = async (kind: string, name: string, body: Record<string, unknown>) => {
    setBusy(true);
    setSaid(null);
    const path = [cluster, namespace, kind, name].map(encodeURIComponent).join("/");
    try {
      const acted = await session.api<Acted>(`/api/k8s/${path}/actions`, { method: "POST", body: JSON.stringify(body) });
      setSaid(`${body.action}: ${acted.detail}`);
    } catch (exc) {
      setSaid(`${body.action}: ${(exc as Error).message}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="container-actions" data-testid="pod-actions">
      <button className="danger" disabled={busy} onClick={() => void act("pod", pod, { action: "delete" })}>
        delete pod
      </button>
      {owner && workloadKind && (
        <>
          <button disabled={busy} onClick={() => void act(workloadKind, owner.name, { action: "rollout-restart" })}>
            restart {workloadKind}/{owner.name}
          </button>
          <input
            type="number"
            min={0}
            value={replicas}
            onChange={(e) => setReplicas(e.target.value)}
            aria-label="replicas"
            style={{ width: "5em" }}
          />
          <button
            disabled={busy || !/^\d+$/.test(replicas)}
            onClick={() => void act(workloadKind, owner.name, { action: "scale", replicas: Number(replicas) })}
          >
            scale
          </button>
        </>
      )}
      {said && (
        <span className="muted" role="status" data-testid="action-result">
          {said}
        </span>
      )}
    </div>
  );
}
