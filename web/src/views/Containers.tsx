// Every container on every host: sortable by CPU or memory, live sparklines, status
// badges, filters. Rows are virtualised, so 100 or 1,000 containers cost the same.
// Over a range (`/api/history/docker/{host}/containers`): sortable by the range's peak
// or mean CPU and memory too, and the containers seen in it that are gone since listed
// (their page shows their history).

import { useVirtualizer } from "@tanstack/react-virtual";
import { memo, useMemo, useRef, useState } from "react";
import { useApp } from "../app-context";
import { Empty } from "../components/Empty";
import { RefusalNote } from "../components/RefusalNote";
import { Sparkline } from "../components/Sparkline";
import { noContainers } from "../empty";
import { bytes, percent, rate } from "../format";
import { PRESETS, type RangeFigures, type TimeRange, useTableFigures } from "../history";
import { Ring, useLive } from "../live";
import { nameGlob } from "../logs";
import type { Staleness } from "../stale";
import type { ContainerRow } from "../stores";
import { mergedRoute } from "./MergedLogs";

type SortKey = "cpu" | "memory" | "name" | "cpu-peak" | "cpu-mean" | "memory-peak" | "memory-mean";
const ROW_HEIGHT = 36;

export function Containers() {
  const { containers, hosts: hostStore, session } = useApp();
  const version = useLive(containers);
  const [sort, setSort] = useState<SortKey>("cpu");
  const [host, setHost] = useState("");
  const [name, setName] = useState("");
  const [state, setState] = useState("");
  const [since, setSince] = useState(""); // "": live figures only

  const live = [...containers.rows.values()];
  const hosts = useMemo(() => [...new Set([...live.map((row) => row.host), ...hostStore.hosts.keys()])].sort(), [version]); // eslint-disable-line
  const range: TimeRange | null = since ? { kind: "since", seconds: PRESETS.find((p) => p.since === since)?.seconds ?? 3600 } : null;
  const { figures, error } = useTableFigures(session.api.bind(session), hosts, range);
  const all = useMemo(() => [...live, ...goneRows(live, figures)], [version, figures]); // eslint-disable-line
  const figureOf = (row: ContainerRow): RangeFigures | undefined => figures.get(`${row.host}/${row.name}`);
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
      "cpu-peak": (a, b) => (figureOf(b)?.cpuPeak ?? -1) - (figureOf(a)?.cpuPeak ?? -1),
      "cpu-mean": (a, b) => (figureOf(b)?.cpuMean ?? -1) - (figureOf(a)?.cpuMean ?? -1),
      "memory-peak": (a, b) => (figureOf(b)?.memoryPeak ?? -1) - (figureOf(a)?.memoryPeak ?? -1),
      "memory-mean": (a, b) => (figureOf(b)?.memoryMean ?? -1) - (figureOf(a)?.memoryMean ?? -1),
    };
    return shown.sort((a, b) => by[sort](a, b) || a.name.localeCompare(b.name));
  }, [all, sort, host, name, state]); // eslint-disable-line

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
        <select value={since} onChange={(e) => setSince(e.target.value)} aria-label="range" data-testid="table-range">
          <option value="">live only</option>
          {PRESETS.map((p) => (
            <option key={p.since} value={p.since}>
              over {p.label}
            </option>
          ))}
        </select>
        <span className="muted">{rows.length} containers</span>
        {error && <span className="muted" data-testid="history-error">no history: {error}</span>}
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
        <span className="range-sorts">
          {since ? (
            (["cpu-peak", "cpu-mean", "memory-peak", "memory-mean"] as const).map((key) => (
              <button key={key} onClick={() => setSort(key)} className={sort === key ? "sorted" : ""} data-testid={`sort-${key}`}>
                {key.replace("-", " ")}
              </button>
            ))
          ) : (
            <span className="muted">range: pick one</span>
          )}
        </span>
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
              figures={figureOf(rows[item.index])}
            />
          ))}
        </div>
      </div>
    </div>
  );
}

/** The containers seen over the range that no live row has (removed since). */
function goneRows(live: ContainerRow[], figures: Map<string, RangeFigures>): ContainerRow[] {
  const named = new Set(live.map((row) => `${row.host}/${row.name}`));
  return [...figures.values()]
    .filter((f) => !named.has(`${f.host}/${f.name}`))
    .map((f) => {
      const id = f.id ?? f.name;
      return { key: `${f.host}/${id}`, host: f.host, id, name: f.name, image: "", status: "gone", history: new Ring(1, 2) };
    });
}

const Row = memo(function Row({
  row,
  top,
  version,
  stale,
  figures,
}: {
  row: ContainerRow;
  top: number;
  version: number;
  stale?: Staleness;
  figures?: RangeFigures;
}) {
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
      <span className="muted ellipsis" data-testid="container-range">
        {figures
          ? `CPU ${figure(figures.cpuPeak, percent)} / ${figure(figures.cpuMean, percent)} · mem ${figure(figures.memoryPeak, bytes)} / ${figure(figures.memoryMean, bytes)}`
          : ""}
      </span>
    </a>
  );
});

function figure(value: number | null, format: (value: number) => string): string {
  return value === null ? "—" : format(value);
}

export function Badge({ status, health, exitCode }: { status: string; health?: string; exitCode?: number }) {
  const text = status === "exited" && exitCode !== undefined ? `exited (${exitCode})` : status;
  return (
    <span className={`badge ${status}`} data-testid="status-badge">
      {text}
      {health ? ` · ${health}` : ""}
    </span>
  );
}
