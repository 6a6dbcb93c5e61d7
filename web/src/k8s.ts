// One Kubernetes cluster as the dashboard watches it: its pods' usage (`k8s.metrics`,
// with deltas) joined with their status (`k8s.status`) by `namespace/name`, and what
// the pods table and the pod page make of them (filter, sort, the status badge).

import { Live } from "./live";
import type { Staleness } from "./stale";
import type { StreamManager } from "./stream/manager";
import { type ChannelEvent, channelKey, type Params } from "./stream/protocol";

export interface ContainerUsage {
  name: string;
  cpu_millicores: number;
  memory_bytes: number;
  cpu_request_millicores?: number;
  cpu_limit_millicores?: number;
  memory_request_bytes?: number;
  memory_limit_bytes?: number;
}

export interface PodUsage {
  id: string;
  namespace: string;
  name: string;
  node?: string;
  cpu_millicores: number;
  memory_bytes: number;
  cpu_request_millicores?: number;
  cpu_limit_millicores?: number;
  memory_request_bytes?: number;
  memory_limit_bytes?: number;
  containers: ContainerUsage[];
}

export interface NodeUsage {
  id: string;
  cpu_millicores: number;
  memory_bytes: number;
  cpu_percent?: number;
  memory_percent?: number;
}

export interface ContainerState {
  name: string;
  ready: boolean;
  restarts: number;
  state: string;
  reason?: string;
  exit_code?: number;
}

export interface PodStatus {
  cluster: string;
  namespace: string;
  pod: string;
  phase: string;
  ready: boolean;
  restarts: number;
  reason?: string;
  node?: string;
  containers: ContainerState[];
  event: string;
  time: string;
  labels?: Record<string, string>;
  /** The workload controlling it: Deployment, StatefulSet, DaemonSet... */
  owner?: { kind: string; name: string };
}

export interface PodRow {
  id: string; // namespace/name
  namespace: string;
  name: string;
  usage?: PodUsage;
  status?: PodStatus;
}

export interface ClusterInfo {
  cluster: string;
  metrics_available: boolean;
  reason: string;
  time: string | null;
}

export interface PodScope {
  namespace?: string;
  pod?: string;
}

export class PodStore extends Live {
  readonly rows = new Map<string, PodRow>();
  nodes: NodeUsage[] = [];
  metricsAvailable: boolean | null = null; // null: no batch yet
  reason = "";
  sampled: string | null = null;
  error: string | null = null;
  /** Set while the cluster's metrics stopped coming (its collector died): not live. */
  stale: Staleness | undefined = undefined;

  constructor(readonly cluster: string) {
    super();
  }

  /** Watch the cluster (or only `namespace`, or one `pod` of it); the returned function stops. */
  watch(manager: StreamManager, scope: PodScope = {}): () => void {
    const [metricsParams, statusParams] = this.params(scope);
    const metrics = manager.subscribe("k8s.metrics", metricsParams, (event) => this.onMetrics(event), { delta: true });
    const status = manager.subscribe("k8s.status", statusParams, (event) => this.onStatus(event));
    return () => {
      metrics();
      status();
    };
  }

  /** The keys of the channels `watch(manager, scope)` subscribes (for the views to say
   * when the gateway refuses one). */
  channels(scope: PodScope = {}): string[] {
    const [metricsParams, statusParams] = this.params(scope);
    return [channelKey("k8s.metrics", metricsParams), channelKey("k8s.status", statusParams)];
  }

  /** `k8s.metrics` of the cluster (or a namespace of it), `k8s.status` of that (or a pod). */
  private params(scope: PodScope): [Params, Params] {
    const params: Params = { cluster: this.cluster };
    if (scope.namespace) params.namespace = scope.namespace;
    return [params, scope.pod ? { ...params, pod: scope.pod } : params];
  }

  private row(namespace: string, name: string): PodRow {
    const id = `${namespace}/${name}`;
    let row = this.rows.get(id);
    if (row === undefined) {
      row = { id, namespace, name };
      this.rows.set(id, row);
    }
    return row;
  }

  onMetrics(event: ChannelEvent): void {
    if (event.type === "error") {
      this.error = `${event.code}: ${event.message}`;
      this.changed();
      return;
    }
    if (event.type === "stale" || event.type === "fresh") {
      this.stale = event.type === "stale" ? { ageS: event.ageS, markedAt: Date.now(), reason: event.reason } : undefined;
      this.changed();
      return;
    }
    if (event.type !== "update") return;
    const batch = event.data as { time: string; metrics_available: boolean; reason?: string; pods: PodUsage[]; nodes: NodeUsage[] };
    this.metricsAvailable = batch.metrics_available;
    this.reason = batch.reason ?? "";
    this.sampled = batch.time;
    this.nodes = batch.nodes;
    const seen = new Set<string>();
    for (const usage of batch.pods) {
      const row = this.row(usage.namespace, usage.name);
      row.usage = usage;
      seen.add(row.id);
    }
    for (const row of this.rows.values()) {
      if (seen.has(row.id)) continue;
      row.usage = undefined; // no figures this time (not running, or gone)
      if (row.status === undefined) this.rows.delete(row.id);
    }
    this.changed();
  }

  onStatus(event: ChannelEvent): void {
    if (event.type === "error") {
      this.error = `${event.code}: ${event.message}`;
      this.changed();
      return;
    }
    if (event.type !== "update") return;
    const status = event.data as unknown as PodStatus;
    if (status.phase === "Deleted" || status.event === "deleted") {
      this.rows.delete(`${status.namespace}/${status.pod}`);
    } else {
      this.row(status.namespace, status.pod).status = status;
    }
    this.changed();
  }
}

export type PodSort = "cpu" | "memory" | "name" | "restarts";

/** The rows of `namespace` (all when empty) whose name has `search` in it, sorted
 * (CPU, memory and restarts: most first; pods without figures last; then by id). */
export function podRows(rows: Iterable<PodRow>, { namespace, search, sort }: { namespace: string; search: string; sort: PodSort }): PodRow[] {
  const needle = search.toLowerCase();
  const shown = [...rows].filter((row) => (!namespace || row.namespace === namespace) && (!needle || row.name.toLowerCase().includes(needle)));
  const by: Record<PodSort, (row: PodRow) => number> = {
    cpu: (row) => row.usage?.cpu_millicores ?? -1,
    memory: (row) => row.usage?.memory_bytes ?? -1,
    restarts: (row) => row.status?.restarts ?? -1,
    name: () => 0,
  };
  return shown.sort((a, b) => by[sort](b) - by[sort](a) || a.id.localeCompare(b.id));
}

export function namespacesOf(rows: Iterable<PodRow>): string[] {
  return [...new Set([...rows].map((row) => row.namespace))].sort();
}

export interface PodBadge {
  text: string;
  /** ok, pending, warn (running, not ready), bad (a reason such as CrashLoopBackOff, failed), done, unknown */
  tone: "ok" | "pending" | "warn" | "bad" | "done" | "unknown";
  ready: string; // "1/2"
}

/** The status badge of a pod: its reason when it has one (CrashLoopBackOff, OOMKilled...),
 * else its phase; ready containers of all; restarts. */
export function podBadge(status: PodStatus | undefined): PodBadge {
  if (status === undefined) return { text: "unknown", tone: "unknown", ready: "—" };
  const ready = `${status.containers.filter((c) => c.ready).length}/${status.containers.length}`;
  const text = status.reason ?? status.phase;
  let tone: PodBadge["tone"];
  if (status.reason || status.phase === "Failed") tone = "bad";
  else if (status.phase === "Succeeded") tone = "done";
  else if (status.phase === "Pending") tone = "pending";
  else if (status.phase === "Running") tone = status.ready ? "ok" : "warn";
  else tone = "unknown";
  return { text, tone, ready };
}

/** `250 m` (millicores), or `1.25 cores` from a thousand on. */
export function millicores(value: number): string {
  return value >= 1000 ? `${(value / 1000).toFixed(2)} cores` : `${Math.round(value)} m`;
}

/** Where a pod's log pages are (`GET /api/k8s/{cluster}/{namespace}/{pod}/logs`). */
const WORKLOAD_KINDS: Record<string, string> = { Deployment: "deployment", StatefulSet: "statefulset", DaemonSet: "daemonset" };

/** The `logs.merged` parameters of the pod's workload (all its pods' logs, merged), or
 * undefined for a pod of no Deployment, StatefulSet or DaemonSet. */
export function workloadLogs(status: PodStatus | undefined): Record<string, string> | undefined {
  const kind = status?.owner && WORKLOAD_KINDS[status.owner.kind];
  if (!status?.owner || !kind) return undefined;
  return { workload: `${kind}/${status.owner.name}`, namespace: status.namespace, cluster: status.cluster };
}

export function podLogsUrl(cluster: string, namespace: string, pod: string, container?: string): string {
  const path = [cluster, namespace, pod].map(encodeURIComponent).join("/");
  return `/api/k8s/${path}/logs` + (container ? `?container=${encodeURIComponent(container)}` : "");
}
