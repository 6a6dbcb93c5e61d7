import { hasRole, useApp } from "../app-context";
import { EmptyRow } from "../components/Empty";
import { ProposalAction } from "../components/ProposalAction";
import { RefusalNote } from "../components/RefusalNote";
import { clock } from "../format";
import { useLive } from "../live";
import type { Session } from "../session";

export function Alerts() {
  const { alerts, me, session } = useApp();
  useLive(alerts);
  const active = alerts.active();
  return (
    <div>
      <RefusalNote channels={alerts.channels} />
      <h2>Active ({active.length})</h2>
      <AlertTable
        rows={active}
        testId="alerts-active"
        empty="No active alert: every threshold is met."
        session={session}
        canConfirm={hasRole(me, "operator")}
      />
      <h2>Recent</h2>
      <AlertTable
        rows={alerts.alerts}
        testId="alerts-recent"
        session={session}
        empty="No alert in the recent window: the collectors raise one when a host or pod crosses a threshold."
      />
    </div>
  );
}

function AlertTable({
  rows,
  testId,
  empty,
  session,
  canConfirm = false,
}: {
  rows: ReturnType<typeof useApp>["alerts"]["alerts"];
  testId: string;
  empty: string;
  session: Session;
  /** An operator's table of raised alerts: their proposals may be confirmed here. */
  canConfirm?: boolean;
}) {
  return (
    <table className="plain" data-testid={testId}>
      <thead>
        <tr><th>state</th><th>source</th><th>host</th><th>metric</th><th>value</th><th>threshold</th><th>time</th><th>message</th><th>proposed</th></tr>
      </thead>
      <tbody>
        {rows.length === 0 && <EmptyRow columns={9} what={empty} />}
        {rows.map((alert, i) => (
          <tr key={`${alert.id}-${i}`}>
            <td><span className={`badge ${alert.state}`}>{alert.state}</span></td>
            <td>{alert.source}</td><td>{alert.host}</td><td>{alert.metric}</td>
            <td>{alert.value.toFixed(1)}</td><td>{alert.threshold.toFixed(1)}</td>
            <td>{clock(alert.time)}</td><td>{alert.message}</td>
            <td>
              {alert.proposal && (
                <ProposalAction
                  session={session}
                  alertId={alert.id}
                  proposal={alert.proposal}
                  canConfirm={canConfirm && alert.state === "raised"}
                />
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
