import { hasRole, useApp } from "../app-context";
import { Chart, type Series } from "../components/Chart";
import { ContainerActions } from "../components/ContainerActions";
import { RefusalNote } from "../components/RefusalNote";
import { bytes, percent } from "../format";
import { useLive } from "../live";
import { Badge } from "./Containers";
import { LogViewer } from "./LogViewer";

const CPU: Series[] = [{ label: "CPU %", color: "#58a6ff" }];
const MEMORY: Series[] = [{ label: "memory %", color: "#d2a8ff" }];

export function ContainerDetail({ host, id }: { host: string; id: string }) {
  const { containers, me, session } = useApp();
  useLive(containers);
  const row = containers.rows.get(`${host}/${id}`);
  return (
    <div>
      <h2>
        {row?.name ?? id} <span className="muted">on {host}</span>{" "}
        {row && <Badge status={row.status} health={row.health} exitCode={row.exitCode} />}
      </h2>
      <RefusalNote channels={containers.channels} />
      {hasRole(me, "operator") && (
        <ContainerActions session={session} host={host} id={id} status={row?.status} />
      )}
      {row?.stats && (
        <p className="muted">
          {row.image} · CPU {percent(row.stats.cpu_percent)} · memory {bytes(row.stats.memory_usage)} of{" "}
          {bytes(row.stats.memory_limit)} · {row.stats.pids} processes
        </p>
      )}
      {row && (
        <div className="grid two">
          <Chart title="CPU %" series={CPU} times={row.history.times} values={[row.history.values[0]]} />
          <Chart title="memory %" series={MEMORY} times={row.history.times} values={[row.history.values[1]]} />
        </div>
      )}
      <LogViewer
        channel="docker.logs"
        params={{ container: id, host }}
        olderUrl={`/api/docker/${encodeURIComponent(id)}/logs?host=${encodeURIComponent(host)}`}
        fileName={`${id}.log`}
      />
    </div>
  );
}
