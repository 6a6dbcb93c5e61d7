// Every container on every host: sortable by CPU or memory, live sparklines, status
// badges, filters. Rows are virtualised, so 100 or 1,000 containers cost the same.

import { useVirtualizer } from "@tanstack/react-virtual";
import { memo, useMemo, useRef, useState } from "react";
import { useApp } from "../app-context";
import { Empty } from "../components/Empty";
import { RefusalNote } from "../components/RefusalNote";
import { Sparkline } from "../components/Sparkline";
import { noContainers } from "../empty";
import { bytes, percent, rate } from "../format";
import { useLive } from "../live";
import { nameGlob } from "../logs";
import type { Staleness } from "../stale";
import type { ContainerRow } from "../stores";
import { mergedRoute } from "./MergedLogs";

type SortKey = "cpu" | "memory" | "name";
const ROW_HEIGHT = 36;

export function Containers() {
  const { containers } = useApp();
  const version = useLive(containers);
  const [sort, setSort] = useState<SortKey>("cpu");
  const [host, setHost] = useState("");
  const [name, setName] = useState("");
  const [state, setState] = useState("");

  const all = [...containers.rows.values()];
  const hosts = useMemo(() => [...new Set(all.map((row) => row.host))].sort(), [version]); // eslint-disable-line
  const rows = useMemo(() => {
    const needle = name.toLowerCase();
    const shown = all.filter(
      (row) =>
        (!host || row.host === host) &&
        (!state || row.status === state) &&
        (!needle || row.name.toLowerCase().includes(needle) || row.id.startsWith(needle)),
    );
    const by: Record<SortKey, (a: ContainerRow, b: ContainerRow) => number> = {
      cpu: (a, b) => (b.stats?.cpu_percent ?? -1) - (a.stats?.cpu_percent ?? -1),
      memory: (a, b) => (b.stats?.memory_usage ?? -1) - (a.stats?.memory_usage ?? -1),
      name: (a, b) => a.name.localeCompare(b.name),
    };
    return shown.sort((a, b) => by[sort](a, b) || a.name.localeCompare(b.name));
  }, [version, sort, host, name, state]); // eslint-disable-line

  const scroller = useRef<HTMLDivElement>(null);
  const virtual = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 10,
  });

  const empty = rows.length === 0 ? noContainers(containers.dockerSources, all.length > 0) : null;

  return (
    <div>
      <RefusalNote channels={containers.channels} />
      <div className="toolbar">
        <input placeholder="name or id" value={name} onChange={(e) => setName(e.target.value)} data-testid="filter-name" />
        <select value={host} onChange={(e) => setHost(e.target.value)} aria-label="host">
          <option value="">all hosts</option>
          {hosts.map((h) => (
            <option key={h}>{h}</option>
          ))}
        </select>
        <select value={state} onChange={(e) => setState(e.target.value)} aria-label="state">
          <option value="">any state</option>
          {["running", "paused", "restarting", "exited", "created", "dead"].map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
        <span className="muted">{rows.length} containers</span>
        {name ? (
          <a href={mergedRoute({ name: nameGlob(name), host })} title="the logs of every container whose name has this in it, merged" data-testid="merge-shown">
            Merge their logs
          </a>
        ) : (
          <span className="muted" title="a name filter picks the containers to merge">Merge their logs (filter by name first)</span>
        )}
      </div>
      <div className="table-head container-grid">
        <button onClick={() => setSort("name")} className={sort === "name" ? "sorted" : ""}>name</button>
        <span>host</span>
        <span>state</span>
        <button onClick={() => setSort("cpu")} className={sort === "cpu" ? "sorted" : ""} data-testid="sort-cpu">CPU</button>
        <span>CPU trend</span>
        <button onClick={() => setSort("memory")} className={sort === "memory" ? "sorted" : ""} data-testid="sort-memory">memory</button>
        <span>network</span>
        <span>image</span>
      </div>
      {empty && (
        <Empty what={empty.what} testId="empty-containers">
          {empty.why}
        </Empty>
      )}
      <div ref={scroller} className="table-body" data-testid="container-table">
        <div style={{ height: virtual.getTotalSize(), position: "relative" }}>
          {virtual.getVirtualItems().map((item) => (
            <Row
              key={rows[item.index].key}
              row={rows[item.index]}
              top={item.start}
              version={version}
              stale={containers.staleHosts.get(rows[item.index].host)}
            />
          ))}
        </div>
      </div>
    </div>
  );
}

const Row = memo(function Row({ row, top, version, stale }: { row: ContainerRow; top: number; version: number; stale?: Staleness }) {
  const stats = row.stats;
  return (
    <a
      className={stale ? "table-row container-grid stale" : "table-row container-grid"}
      title={stale ? `stale: ${stale.reason ?? "this host's stats stopped coming (its collector)"}` : undefined}
      style={{ transform: `translateY(${top}px)`, height: ROW_HEIGHT }}
      href={`#/containers/${row.host}/${row.id}`}
      data-testid="container-row"
      data-name={row.name}
    >
      <span className="name">{row.name}</span>
      <span>{stale ? `${row.host} (stale)` : row.host}</span>
      <span>
        <Badge status={row.status} health={row.health} exitCode={row.exitCode} />
      </span>
      <span data-testid="container-cpu">{stats ? percent(stats.cpu_percent) : "—"}</span>
      <span>
        <Sparkline values={row.history.values[0]} version={version} />
      </span>
      <span data-testid="container-memory">{stats ? `${bytes(stats.memory_usage)} (${percent(stats.memory_percent)})` : "—"}</span>
      <span>{stats ? `↓ ${rate(stats.network_rx_per_s)} ↑ ${rate(stats.network_tx_per_s)}` : "—"}</span>
      <span className="muted ellipsis">{row.image}</span>
    </a>
  );
});

export function Badge({ status, health, exitCode }: { status: string; health?: string; exitCode?: number }) {
  const text = status === "exited" && exitCode !== undefined ? `exited (${exitCode})` : status;
  return (
    <span className={`badge ${status}`} data-testid="status-badge">
      {text}
      {health ? ` · ${health}` : ""}
    </span>
  );
}
