// Every host: CPU, memory, disk and network over the last minutes, live.

import { useApp } from "../app-context";
import { rateAxis } from "../axes";
import { Chart, type Series } from "../components/Chart";
import { bytes, percent, rate } from "../format";
import { useLive } from "../live";
import { Empty } from "../components/Empty";
import { RefusalNote } from "../components/RefusalNote";
import { StaleNote, staleClass } from "../components/Stale";
import type { Staleness } from "../stale";
import type { HostView } from "../stores";

const PERCENT: Series[] = [{ label: "CPU", color: "#58a6ff" }, { label: "memory", color: "#d2a8ff" }];
const DISK: Series[] = [{ label: "read", color: "#3fb950" }, { label: "write", color: "#f0883e" }];
const NETWORK: Series[] = [{ label: "rx", color: "#3fb950" }, { label: "tx", color: "#f778ba" }];

export function HostOverview() {
  const { hosts } = useApp();
  useLive(hosts);
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
      {views.map((view) => (
        <HostCard key={view.host} view={view} stale={hosts.stale.get(view.host)} />
      ))}
    </div>
  );
}

export function HostCard({ view, stale }: { view: HostView; stale?: Staleness }) {
  const { latest, history } = view;
  const [cpu, memory, read, write, rx, tx] = history.values;
  return (
    <section className={staleClass("card", stale)} data-testid={`host-${view.host}`}>
      <h2>
        {view.host} <StaleNote stale={stale} />
      </h2>
      <div className="figures">
        <Figure label="CPU" value={percent(latest.cpu.percent)} id="host-cpu" />
        <Figure label="memory" value={`${percent(latest.memory.percent)} of ${bytes(latest.memory.total)}`} id="host-memory" />
        <Figure label="load" value={latest.load.one.toFixed(2)} id="host-load" />
        <Figure label="network" value={`↓ ${rate(latest.network.rx_bytes_per_s)} ↑ ${rate(latest.network.tx_bytes_per_s)}`} id="host-network" />
        <Figure label="sample" value={new Date(latest.time).toLocaleTimeString()} id="host-time" />
      </div>
      <div className="grid">
        <Chart title="CPU and memory %" series={PERCENT} times={history.times} values={[cpu, memory]} max={100} />
        <Chart title="disk I/O" series={DISK} times={history.times} values={[read, write]} axis={rateAxis} />
        <Chart title="network" series={NETWORK} times={history.times} values={[rx, tx]} axis={rateAxis} />
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
