import { useApp } from "../app-context";
import { EmptyRow } from "../components/Empty";
import { RefusalNote } from "../components/RefusalNote";
import { clock } from "../format";
import { useLive } from "../live";

export function Alerts() {
  const { alerts } = useApp();
  useLive(alerts);
  const active = alerts.active();
  return (
    <div>
      <RefusalNote channels={alerts.channels} />
      <h2>Active ({active.length})</h2>
      <AlertTable rows={active} testId="alerts-active" empty="No active alert: every threshold is met." />
      <h2>Recent</h2>
      <AlertTable
        rows={alerts.alerts}
        testId="alerts-recent"
        empty="No alert in the recent window: the collectors raise one when a host or pod crosses a threshold."
      />
    </div>
  );
}

function AlertTable({ rows, testId, empty }: { rows: ReturnType<typeof useApp>["alerts"]["alerts"]; testId: string; empty: string }) {
  return (
    <table className="plain" data-testid={testId}>
      <thead>
        <tr><th>state</th><th>source</th><th>host</th><th>metric</th><th>value</th><th>threshold</th><th>time</th><th>message</th></tr>
      </thead>
      <tbody>
        {rows.length === 0 && <EmptyRow columns={8} what={empty} />}
        {rows.map((alert, i) => (
          <tr key={`${alert.id}-${i}`}>
            <td><span className={`badge ${alert.state}`}>{alert.state}</span></td>
            <td>{alert.source}</td><td>{alert.host}</td><td>{alert.metric}</td>
            <td>{alert.value.toFixed(1)}</td><td>{alert.threshold.toFixed(1)}</td>
            <td>{clock(alert.time)}</td><td>{alert.message}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
