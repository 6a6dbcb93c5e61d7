import { useApp } from "../app-context";
import { clock } from "../format";
import { useLive } from "../live";

export function Alerts() {
  const { alerts } = useApp();
  useLive(alerts);
  const active = alerts.active();
  return (
    <div>
      <h2>Active ({active.length})</h2>
      <AlertTable rows={active} testId="alerts-active" />
      <h2>Recent</h2>
      <AlertTable rows={alerts.alerts} testId="alerts-recent" />
    </div>
  );
}

function AlertTable({ rows, testId }: { rows: ReturnType<typeof useApp>["alerts"]["alerts"]; testId: string }) {
  return (
    <table className="plain" data-testid={testId}>
      <thead>
        <tr><th>state</th><th>source</th><th>host</th><th>metric</th><th>value</th><th>threshold</th><th>time</th><th>message</th></tr>
      </thead>
      <tbody>
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
