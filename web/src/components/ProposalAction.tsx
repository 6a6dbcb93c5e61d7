// What a raised alert proposes (restart its container or roll back the last deploy of
// its service, scale its pod's workload), and
// for operators a button to confirm it: a POST to the alerter through the gateway, which
// has the deployer carry it out once; the deployer asks first, on the socket (AskDialog).

import { useState } from "react";
import type { Session } from "../session";
import type { Proposal } from "../stores";

interface Confirmed {
  outcome: "done" | "declined";
  detail: string;
}

export function describe(proposal: Proposal): string {
  if (proposal.action === "restart") return `restart ${proposal.name} on ${proposal.host ?? "?"}`;
  if (proposal.action === "rollback") return `roll back the last deploy of ${proposal.name} on ${proposal.host ?? "?"}`;
  return `scale ${proposal.kind ?? "workload"} ${proposal.namespace ?? "?"}/${proposal.name} to ${proposal.replicas ?? "?"}`;
}

export function ProposalAction({
  session,
  alertId,
  proposal,
  canConfirm,
}: {
  session: Session;
  alertId: string;
  proposal: Proposal;
  canConfirm: boolean;
}) {
  const [busy, setBusy] = useState(false);
  const [said, setSaid] = useState<string | null>(null);
  const what = describe(proposal);
  if (proposal.done) {
    return <span className="muted" data-testid="proposal">{`${what}: done by ${proposal.done.by}`}</span>;
  }
  const confirm = async () => {
    setBusy(true);
    setSaid(null);
    try {
      const answer = await session.api<Confirmed>("/api/alerts/proposal", {
        method: "POST",
        body: JSON.stringify({ alert_id: alertId }),
      });
      setSaid(answer.outcome === "done" ? `done (${answer.detail})` : answer.detail);
    } catch (exc) {
      setSaid((exc as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <span data-testid="proposal">
      {canConfirm ? (
        <button disabled={busy} onClick={() => void confirm()} title="asked again before it runs">
          {busy ? `${what}…` : `${what}?`}
        </button>
      ) : (
        <span className="muted">proposed: {what}</span>
      )}
      {said && (
        <span className="muted" role="status" data-testid="proposal-result">
          {" "}
          {said}
        </span>
      )}
    </span>
  );
}
