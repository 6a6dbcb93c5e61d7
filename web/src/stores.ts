// What the whole app watches while signed in: hosts, containers (stats and status) and
// alerts — four subscriptions on the one socket, kept for the views to read.

import type { DockerSource } from "./empty";
import { Live, Ring } from "./live";
import type { StreamManager } from "./stream/manager";
import { type Staleness, trackStale } from "./stale";
import type { ChannelEvent } from "./stream/protocol";

const HOST_WINDOW = 300; // 10 minutes of 2 s samples
const CONTAINER_WINDOW = 150;
const ALERTS_KEPT = 500;

export interface HostSample {
  host: string;
  time: string;
  cpu: { percent: number };
  memory: { percent: number; used: number; total: number };
  filesystems: { mountpoint: string; percent: number; used: number; total: number }[];
  disk_io: { read_bytes_per_s: number; write_bytes_per_s: number };
  network: { rx_bytes_per_s: number; tx_bytes_per_s: number };
  load: { one: number };
  uptime_s: number;
}

export interface ContainerStats {
  id: string;
  name: string;
  image: string;
  state: string;
  cpu_percent: number;
  memory_usage: number;
  memory_limit: number;
  memory_percent: number;
  network_rx_per_s: number;
  network_tx_per_s: number;
  pids: number;
}

export interface ContainerStatus {
  host: string;
  id: string;
  name: string;
  image: string;
  status: string;
  event: string;
  exit_code?: number;
  health?: string;
  time: string;
}

/** What a rule's raised alert proposes, for an operator to confirm (`POST /api/alerts/proposal`). */
export interface Proposal {
  id: string;
  action: "restart" | "rollback" | "scale";
  name: string;
  host?: string;
  container?: string;
  cluster?: string;
  namespace?: string;
  kind?: "deployment" | "statefulset";
  replicas?: number;
  done?: { by: string; time: string; detail: string };
}

export interface Acknowledgement {
  by: string;
  note: string;
  time: string;
}

/** One transition on the `alerts` channel (`AlertChanged`). */
export interface Alert {
  id: string;
  state: "raised" | "resolved";
  source: string;
  host: string;
  metric: string;
  value: number;
  threshold: number;
  time: string;
  message: string;
  cluster?: string | null;
  rule?: string;
  severity?: string;
  labels?: Record<string, string>;
  /** Set on the transition that acknowledges it (and on later ones when the alerter knows). */
  acknowledged?: Acknowledgement;
  /** A rule's raised alert: what it proposes (`done` on the transition once carried out). */
  proposal?: Proposal;
}

/** An alert as it stands: its latest transition, when this raise began, and who
 * acknowledged it (kept from the acknowledgement when a later transition omits it). */
export interface AlertView extends Alert {
  raisedAt: string;
}

export type AlertPhase = "raised" | "acknowledged" | "resolved";

export function phase(alert: Alert): AlertPhase {
  if (alert.state === "resolved") return "resolved";
  return alert.acknowledged ? "acknowledged" : "raised";
}

export interface HostView {
  host: string;
  latest: HostSample;
  /** cpu %, memory %, disk read B/s, disk write B/s, rx B/s, tx B/s */
  history: Ring;
}

export interface ContainerRow {
  key: string;
  host: string;
  id: string;
  name: string;
  image: string;
  status: string;
  health?: string;
  exitCode?: number;
  stats?: ContainerStats;
  /** cpu %, memory used (bytes): the history's `cpu_percent`, `memory_usage` */
  history: Ring;
}

function time(value: string): number {
  return Date.parse(value) / 1000;
}

export class HostStore extends Live {
  /** What it watches (for the views to say when the gateway refuses it). */
  readonly channels = ["host.metrics"] as const;
  readonly hosts = new Map<string, HostView>();
  /** Hosts whose samples stopped coming (their collector died): not live. */
  readonly stale = new Map<string, Staleness>();

  watch(manager: StreamManager): () => void {
    return manager.subscribe(this.channels[0], {}, (event) => {
      if (trackStale(this.stale, event)) return this.changed();
      if (event.type !== "update") return;
      const sample = event.data as unknown as HostSample;
      let view = this.hosts.get(sample.host);
      const first = view === undefined;
      if (view === undefined) {
        view = { host: sample.host, latest: sample, history: new Ring(HOST_WINDOW, 6) };
        this.hosts.set(sample.host, view);
      }
      view.latest = sample;
      view.history.push(
        time(sample.time),
        sample.cpu.percent,
        sample.memory.percent,
        sample.disk_io.read_bytes_per_s,
        sample.disk_io.write_bytes_per_s,
        sample.network.rx_bytes_per_s,
        sample.network.tx_bytes_per_s,
      );
      if (first) this.changedNow(); // its card at once, and the fetch of its history
      else this.changed();
    });
  }
}

export class ContainerStore extends Live {
  readonly channels = ["docker.stats", "docker.status"] as const;
  readonly rows = new Map<string, ContainerRow>();
  /** Per host, whether its Docker engine answers (and why not), as its collector said. */
  readonly dockerSources = new Map<string, DockerSource>();
  /** Hosts whose stats stopped coming (collector or Docker gone): not live. */
  readonly staleHosts = new Map<string, Staleness>();

  watch(manager: StreamManager): () => void {
    const [statsChannel, statusChannel] = this.channels;
    const stats = manager.subscribe(statsChannel, {}, (event) => this.onStats(event), { delta: true });
    const status = manager.subscribe(statusChannel, {}, (event) => this.onStatus(event));
    return () => {
      stats();
      status();
    };
  }

  private row(host: string, id: string, name: string, image: string): ContainerRow {
    const key = `${host}/${id}`;
    let row = this.rows.get(key);
    if (row === undefined) {
      row = { key, host, id, name, image, status: "unknown", history: new Ring(CONTAINER_WINDOW, 2) };
      this.rows.set(key, row);
    }
    return row;
  }

  private onStats(event: ChannelEvent): void {
    if (trackStale(this.staleHosts, event)) return this.changed();
    if (event.type !== "update") return;
    const batch = event.data as { host: string; time: string; containers: ContainerStats[] };
    const seen = new Set<string>();
    for (const stats of batch.containers) {
      const row = this.row(batch.host, stats.id, stats.name, stats.image);
      row.stats = stats;
      if (row.status === "unknown") row.status = stats.state;
      row.history.push(time(batch.time), stats.cpu_percent, stats.memory_usage);
      seen.add(row.key);
    }
    for (const row of this.rows.values()) {
      if (row.host === batch.host && !seen.has(row.key)) row.stats = undefined; // not running
    }
    this.changed();
  }

  private onStatus(event: ChannelEvent): void {
    if (event.type !== "update") return;
    const data = event.data as Partial<ContainerStatus> & { available?: boolean; reason?: string; host: string };
    if (data.available !== undefined) {
      this.dockerSources.set(data.host, { available: data.available, reason: data.reason ?? "" }); // the engine itself
    } else if (data.id !== undefined) {
      const status = data as ContainerStatus;
      const row = this.row(status.host, status.id, status.name, status.image);
      row.status = status.status;
      row.health = status.health;
      row.exitCode = status.exit_code;
      if (status.event === "destroy") this.rows.delete(row.key);
    }
    this.changed();
  }
}

export class AlertStore extends Live {
  readonly channels = ["alerts"] as const;
  /** The transitions, newest first. */
  alerts: Alert[] = [];
  private views: AlertView[] | null = null;

  watch(manager: StreamManager): () => void {
    // From the start of what the gateway keeps, so the list is not empty on load.
    return manager.subscribe(
      this.channels[0],
      {},
      (event) => {
        if (event.type !== "update") return;
        this.alerts = [event.data as unknown as Alert, ...this.alerts].slice(0, ALERTS_KEPT);
        this.views = null;
        this.changed();
      },
      { since: 0 },
    );
  }

  /** Every alert as it stands, the latest transition first. */
  latest(): AlertView[] {
    this.views ??= standing(this.alerts);
    return this.views;
  }

  /** Conditions raised and not resolved since (acknowledged or not), newest first. */
  active(): AlertView[] {
    return this.latest().filter((alert) => alert.state === "raised");
  }

  /** Conditions resolved, the latest resolution first. */
  recent(): AlertView[] {
    return this.latest().filter((alert) => alert.state === "resolved");
  }
}

/** Transitions (newest first) folded into each alert's standing, newest first. A raise
 * after a resolution begins the alert anew: the old acknowledgement is not carried. */
export function standing(transitions: Alert[]): AlertView[] {
  const views = new Map<string, AlertView>();
  for (let i = transitions.length - 1; i >= 0; i--) {
    const alert = transitions[i];
    const before = views.get(alert.id);
    const anew = before === undefined || (before.state === "resolved" && alert.state === "raised");
    views.delete(alert.id); // re-inserted: the map's order is the latest transition's
    views.set(alert.id, {
      ...alert,
      raisedAt: anew ? alert.time : before.raisedAt,
      acknowledged: alert.acknowledged ?? (anew ? undefined : before.acknowledged),
    });
  }
  return [...views.values()].reverse();
}
