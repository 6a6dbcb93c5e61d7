// A container: its CPU and memory over the page's range (its history, then live), its
// actions (operators) and a shell in it (`mayExec`), and its logs. A removed container's page still
// shows its history (by id or name).

import { useState } from "react";
import { hasRole, mayExec, useApp } from "../app-context";
import { bytesAxis } from "../axes";
import { Chart, type Series } from "../components/Chart";
import { ContainerActions } from "../components/ContainerActions";
import { RangePicker } from "../components/RangePicker";
import { RefusalNote } from "../components/RefusalNote";
import { containerShell, ShellTerminal } from "../components/ShellTerminal";
import { bytes, percent } from "../format";
import { DEFAULT_RANGE, type TimeRange, useCharted } from "../history";
import { useLive } from "../live";
import { Badge } from "./Containers";
import { LogViewer } from "./LogViewer";

const CPU: Series[] = [{ label: "CPU %", color: "#58a6ff" }];
const MEMORY: Series[] = [{ label: "memory", color: "#d2a8ff" }];
/** The history's series, in the order the store keeps them live (`ContainerRow.history`). */
const SERIES = ["cpu_percent", "memory_usage"] as const;

export function ContainerDetail({ host, id }: { host: string; id: string }) {
  const { containers, me, session } = useApp();
  useLive(containers);
  const [range, setRange] = useState<TimeRange>(DEFAULT_RANGE);
  const row = containers.rows.get(`${host}/${id}`);
  const path = `/api/history/docker/${encodeURIComponent(host)}/containers/${encodeURIComponent(id)}`;
  const charted = useCharted(session.api.bind(session), path, range, SERIES, row?.history ?? null);
  const entry = charted.answer?.entries[0];
  const gone = row === undefined && entry !== undefined;
  const onZoom = (start: number, end: number) => setRange({ kind: "between", start, end });
  const columns = charted.columns ?? { times: [], values: [[], []] };
  return (
    <div>
      <h2>
        {row?.name ?? entry?.key ?? id} <span className="muted">on {host}</span>{" "}
        {row && <Badge status={row.status} health={row.health} exitCode={row.exitCode} />}
        {gone && <span className="badge removed" data-testid="status-badge">gone · history</span>}
      </h2>
      <RefusalNote channels={containers.channels} />
      {hasRole(me, "operator") && (
        <ContainerActions session={session} host={host} id={id} status={row?.status} />
      )}
      {mayExec(me) && row?.status === "running" && <ShellTerminal session={session} path={containerShell(host, id)} />}
      {row?.stats && (
        <p className="muted">
          {row.image} · CPU {percent(row.stats.cpu_percent)} · memory {bytes(row.stats.memory_usage)} of{" "}
          {bytes(row.stats.memory_limit)} · {row.stats.pids} processes
        </p>
      )}
      <RangePicker range={range} onChange={setRange} note={charted.error && `no history: ${charted.error}`} />
      {(row || entry) && (
        <div className="grid two">
          <Chart title="CPU %" series={CPU} times={columns.times} values={[columns.values[0]]} window={charted.window} sync="container" onZoom={onZoom} />
          <Chart title="memory" series={MEMORY} times={columns.times} values={[columns.values[1]]} axis={bytesAxis} window={charted.window} sync="container" onZoom={onZoom} />
        </div>
      )}
      {!row && !entry && charted.columns !== null && <p className="muted" data-testid="no-history">Not running here, and no history of it in this range.</p>}
      <LogViewer
        channel="docker.logs"
        params={{ container: id, host }}
        olderUrl={`/api/docker/${encodeURIComponent(id)}/logs?host=${encodeURIComponent(host)}`}
        fileName={`${id}.log`}
        searchWhere={{ host, container: id }}
      />
    </div>
  );
}
