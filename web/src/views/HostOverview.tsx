// Every host: CPU, memory, disk and network over the page's range: its history, then
// live (`history.ts`); one range picker and one crosshair for every host's charts.

import { useState } from "react";
import { useApp } from "../app-context";
import { rateAxis } from "../axes";
import { Chart, type Series } from "../components/Chart";
import { bytes, percent, rate } from "../format";
import { useLive } from "../live";
import { Empty } from "../components/Empty";
import { RangePicker } from "../components/RangePicker";
import { type Charted, DEFAULT_RANGE, type TimeRange, useCharted } from "../history";
import { RefusalNote } from "../components/RefusalNote";
import { StaleNote, staleClass } from "../components/Stale";
import type { Staleness } from "../stale";
import type { HostView } from "../stores";

const PERCENT: Series[] = [{ label: "CPU", color: "#58a6ff" }, { label: "memory", color: "#d2a8ff" }];
const DISK: Series[] = [{ label: "read", color: "#3fb950" }, { label: "write", color: "#f0883e" }];
const NETWORK: Series[] = [{ label: "rx", color: "#3fb950" }, { label: "tx", color: "#f778ba" }];
/** The history's series, in the order the store keeps them live (`HostView.history`). */
const SERIES = [
  "cpu_percent",
  "memory_percent",
  "disk_read_bytes_per_s",
  "disk_write_bytes_per_s",
  "network_rx_bytes_per_s",
  "network_tx_bytes_per_s",
] as const;
const SYNC = "hosts";

export function HostOverview() {
  const { hosts } = useApp();
  useLive(hosts);
  const [range, setRange] = useState<TimeRange>(DEFAULT_RANGE);
  const views = [...hosts.hosts.values()].sort((a, b) => a.host.localeCompare(b.host));
  if (views.length === 0) {
    return (
      <div>
        <RefusalNote channels={hosts.channels} />
        <Empty what="No host yet." testId="empty-hosts">
          Waiting for the first host sample: every collector sends one every few seconds. If none comes, is a
          collector running, and does it reach this stack's NATS?
        </Empty>
      </div>
    );
  }
  return (
    <div>
      <RefusalNote channels={hosts.channels} />
      <RangePicker range={range} onChange={setRange} />
      {views.map((view) => (
        <HostHistoryCard key={view.host} view={view} stale={hosts.stale.get(view.host)} range={range} onRange={setRange} />
      ))}
    </div>
  );
}

/** A host's card with its range's history. */
function HostHistoryCard({ view, stale, range, onRange }: { view: HostView; stale?: Staleness; range: TimeRange; onRange: (range: TimeRange) => void }) {
  const { session } = useApp();
  const charted = useCharted(session.api.bind(session), `/api/history/hosts/${encodeURIComponent(view.host)}`, range, SERIES, view.history);
  return <HostCard view={view} stale={stale} charted={charted} onZoom={(start, end) => onRange({ kind: "between", start, end })} />;
}

/** A host's card; its charts from `charted` (history and live), else its live samples. */
export function HostCard({ view, stale, charted, onZoom }: { view: HostView; stale?: Staleness; charted?: Charted; onZoom?: (start: number, end: number) => void }) {
  const { latest, history } = view;
  const columns = charted === undefined ? history : (charted.columns ?? { times: [], values: SERIES.map(() => []) });
  const [cpu, memory, read, write, rx, tx] = columns.values;
  const shared = { window: charted?.window, sync: SYNC, onZoom };
  return (
    <section className={staleClass("card", stale)} data-testid={`host-${view.host}`}>
      <h2>
        {view.host} <StaleNote stale={stale} />
      </h2>
      {charted?.error && <p className="muted" data-testid="history-error">no history: {charted.error}</p>}
      <div className="figures">
        <Figure label="CPU" value={percent(latest.cpu.percent)} id="host-cpu" />
        <Figure label="memory" value={`${percent(latest.memory.percent)} of ${bytes(latest.memory.total)}`} id="host-memory" />
        <Figure label="load" value={latest.load.one.toFixed(2)} id="host-load" />
        <Figure label="network" value={`↓ ${rate(latest.network.rx_bytes_per_s)} ↑ ${rate(latest.network.tx_bytes_per_s)}`} id="host-network" />
        <Figure label="sample" value={new Date(latest.time).toLocaleTimeString()} id="host-time" />
      </div>
      <div className="grid">
        <Chart title="CPU and memory %" series={PERCENT} times={columns.times} values={[cpu, memory]} max={100} {...shared} />
        <Chart title="disk I/O" series={DISK} times={columns.times} values={[read, write]} axis={rateAxis} {...shared} />
        <Chart title="network" series={NETWORK} times={columns.times} values={[rx, tx]} axis={rateAxis} {...shared} />
        <div className="filesystems">
          <h3>filesystems</h3>
          {latest.filesystems.length === 0 && <Empty what="No filesystem reported." />}
          {latest.filesystems.map((fs) => (
            <div key={fs.mountpoint} className="bar-row">
              <span>{fs.mountpoint}</span>
              <progress max={100} value={fs.percent} />
              <span>
                {percent(fs.percent)} of {bytes(fs.total)}
              </span>
            </div>
          ))}
        </div>
      </div>
    </section>
  );
}

function Figure({ label, value, id }: { label: string; value: string; id: string }) {
  return (
    <div className="figure">
      <span className="muted">{label}</span>
      <strong data-testid={id}>{value}</strong>
    </div>
  );
}
