// Kubernetes: the clusters the user may see (`GET /api/k8s/clusters`); per cluster a
// live pods table (namespace filter, sort by CPU/memory/restarts, status badges, node);
// a pod page with its containers and its log (the shared log viewer on `k8s.logs`).

import { useVirtualizer } from "@tanstack/react-virtual";
import { memo, useEffect, useMemo, useRef, useState } from "react";
import { hasRole, mayExec, useApp } from "../app-context";
import { Empty, EmptyRow } from "../components/Empty";
import { PodActions } from "../components/PodActions";
import { RefusalNote } from "../components/RefusalNote";
import { podShell, ShellTerminal } from "../components/ShellTerminal";
import { StaleNote, staleClass } from "../components/Stale";
import { noClusters } from "../empty";
import { bytes, clock } from "../format";
import { type ClusterInfo, type PodBadge, type PodRow, type PodScope, type PodSort, PodStore, millicores, namespacesOf, podBadge, podLogsUrl, podRows, workloadLogs } from "../k8s";
import { mergedRoute } from "./MergedLogs";
import { useLive } from "../live";
import { LogViewer } from "./LogViewer";

const ROW_HEIGHT = 36;

export function Clusters() {
  const { session, me } = useApp();
  const [clusters, setClusters] = useState<ClusterInfo[] | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    session.api<{ clusters: ClusterInfo[] }>("/api/k8s/clusters").then(
      (answer) => setClusters(answer.clusters),
      (e: unknown) => setError(String(e)),
    );
  }, [session]);
  if (error) return <p className="error">{error}</p>;
  if (clusters === null) return <p className="muted">Loading…</p>;
  return (
    <div>
      <h2>Kubernetes clusters</h2>
      {clusters.length === 0 ? (
        <Empty what={noClusters(me.clusters).what} testId="no-clusters">
          {noClusters(me.clusters).why}
        </Empty>
      ) : (
        <table className="plain" data-testid="clusters">
          <thead>
            <tr>
              <th>cluster</th>
              <th>metrics</th>
              <th>last sample</th>
            </tr>
          </thead>
          <tbody>
            {clusters.map((c) => (
              <tr key={c.cluster} data-testid="cluster-row" data-cluster={c.cluster}>
                <td>
                  <a href={`#/k8s/${encodeURIComponent(c.cluster)}`}>{c.cluster}</a>
                </td>
                <td>{c.metrics_available ? "available" : <span className="muted">{c.reason || "unavailable"}</span>}</td>
                <td className="muted">{c.time ? clock(c.time) : "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function useCluster(cluster: string, scope: PodScope = {}): PodStore {
  const { manager } = useApp();
  const store = useMemo(() => new PodStore(cluster), [cluster]);
  useEffect(() => store.watch(manager, scope), [manager, store, scope.namespace, scope.pod]); // eslint-disable-line
  useLive(store);
  return store;
}

export function Pods({ cluster }: { cluster: string }) {
  const store = useCluster(cluster);
  const [namespace, setNamespace] = useState("");
  const [search, setSearch] = useState("");
  const [sort, setSort] = useState<PodSort>("cpu");
  const version = store.getVersion();
  const namespaces = useMemo(() => namespacesOf(store.rows.values()), [version]); // eslint-disable-line
  const rows = useMemo(() => podRows(store.rows.values(), { namespace, search, sort }), [version, namespace, search, sort]); // eslint-disable-line

  const scroller = useRef<HTMLDivElement>(null);
  const virtual = useVirtualizer({ count: rows.length, getScrollElement: () => scroller.current, estimateSize: () => ROW_HEIGHT, overscan: 10 });
  const sorter = (key: PodSort, label: string) => (
    <button onClick={() => setSort(key)} className={sort === key ? "sorted" : ""} data-testid={`pod-sort-${key}`}>
      {label}
    </button>
  );

  return (
    <div>
      <h2>
        <a href="#/k8s">Kubernetes</a> / {cluster} <StaleNote stale={store.stale} />
      </h2>
      <RefusalNote channels={store.channels()} />
      {store.error && <p className="error" data-testid="cluster-error">{store.error}</p>}
      {store.metricsAvailable === false && <p className="muted">No usage figures: {store.reason || "metrics.k8s.io is unavailable"}</p>}
      {store.nodes.length > 0 && (
        <p className="muted" data-testid="nodes">
          {store.nodes.map((n) => `${n.id}: ${millicores(n.cpu_millicores)} CPU, ${bytes(n.memory_bytes)}`).join(" · ")}
          {store.sampled && ` · sampled ${clock(store.sampled)}`}
        </p>
      )}
      <div className="toolbar">
        <select value={namespace} onChange={(e) => setNamespace(e.target.value)} aria-label="namespace" data-testid="filter-namespace">
          <option value="">all namespaces</option>
          {namespaces.map((n) => (
            <option key={n}>{n}</option>
          ))}
        </select>
        <input placeholder="pod name" value={search} onChange={(e) => setSearch(e.target.value)} data-testid="filter-pod" />
        <span className="muted">{rows.length} pods</span>
      </div>
      <div className="table-head pod-grid">
        {sorter("name", "pod")}
        <span>namespace</span>
        <span>status</span>
        <span>ready</span>
        {sorter("restarts", "restarts")}
        {sorter("cpu", "CPU")}
        {sorter("memory", "memory")}
        <span>node</span>
      </div>
      {rows.length === 0 && (
        <Empty what={store.rows.size ? "No pod matches these filters." : "No pods yet."} testId="empty-pods">
          {store.rows.size
            ? "Clear the namespace or name filter to see the others."
            : store.sampled === null
              ? "Waiting for the cluster's first sample from its collector."
              : "The cluster runs no pod the collector reports."}
        </Empty>
      )}
      <div ref={scroller} className={staleClass("table-body", store.stale)} data-testid="pod-table">
        <div style={{ height: virtual.getTotalSize(), position: "relative" }}>
          {virtual.getVirtualItems().map((item) => (
            <Row key={rows[item.index].id} cluster={cluster} row={rows[item.index]} top={item.start} version={version} />
          ))}
        </div>
      </div>
    </div>
  );
}

const Row = memo(function Row({ cluster, row, top }: { cluster: string; row: PodRow; top: number; version: number }) {
  const badge = podBadge(row.status);
  const usage = row.usage;
  return (
    <a
      className="table-row pod-grid"
      style={{ transform: `translateY(${top}px)`, height: ROW_HEIGHT }}
      href={`#/k8s/${[cluster, row.namespace, row.name].map(encodeURIComponent).join("/")}`}
      data-testid="pod-row"
      data-pod={row.name}
      data-namespace={row.namespace}
    >
      <span className="name">{row.name}</span>
      <span>{row.namespace}</span>
      <span>
        <StatusBadge badge={badge} />
      </span>
      <span data-testid="pod-ready">{badge.ready}</span>
      <span data-testid="pod-restarts">{row.status?.restarts ?? "—"}</span>
      <span data-testid="pod-cpu">{usage ? millicores(usage.cpu_millicores) : "—"}</span>
      <span data-testid="pod-memory">{usage ? bytes(usage.memory_bytes) : "—"}</span>
      <span className="muted ellipsis">{row.status?.node ?? usage?.node ?? "—"}</span>
    </a>
  );
});

function StatusBadge({ badge }: { badge: PodBadge }) {
  return (
    <span className={`badge pod-${badge.tone}`} data-testid="pod-status">
      {badge.text}
    </span>
  );
}

function limits(request?: number, limit?: number, format: (n: number) => string = String): string {
  if (request === undefined && limit === undefined) return "";
  return ` (request ${request === undefined ? "—" : format(request)}, limit ${limit === undefined ? "—" : format(limit)})`;
}

export function PodPage({ cluster, namespace, pod }: { cluster: string; namespace: string; pod: string }) {
  const { me, session } = useApp();
  const store = useCluster(cluster, { namespace, pod });
  const row = store.rows.get(`${namespace}/${pod}`);
  const status = row?.status;
  const badge = podBadge(status);
  const names = status?.containers.map((c) => c.name) ?? row?.usage?.containers.map((c) => c.name) ?? [];
  const [container, setContainer] = useState("");
  const shown = container || names[0] || "";
  const workload = workloadLogs(status);

  return (
    <div>
      <h2>
        <a href="#/k8s">Kubernetes</a> / <a href={`#/k8s/${encodeURIComponent(cluster)}`}>{cluster}</a> / {namespace} / {pod}{" "}
        <StatusBadge badge={badge} />
      </h2>
      <RefusalNote channels={store.channels({ namespace, pod })} />
      {store.error && <p className="error">{store.error}</p>}
      {hasRole(me, "operator") && (
        <PodActions session={session} cluster={cluster} namespace={namespace} pod={pod} owner={status?.owner} />
      )}
      {mayExec(me) && status?.phase === "Running" && shown && (
        <ShellTerminal session={session} path={podShell(cluster, namespace, pod, shown)} />
      )}
      <p className="muted" data-testid="pod-summary">
        {status ? `${status.phase} · ready ${badge.ready} · ${status.restarts} restarts` : "no status yet"}
        {status?.node && ` · on ${status.node}`}
        {row?.usage && ` · CPU ${millicores(row.usage.cpu_millicores)} · memory ${bytes(row.usage.memory_bytes)}`}
        {workload && (
          <>
            {" · "}
            <a href={mergedRoute(workload)} data-testid="pod-workload-logs" title="the logs of every pod of its workload, merged">
              {workload.workload} logs, merged
            </a>
          </>
        )}
      </p>
      <table className="plain" data-testid="pod-containers">
        <thead>
          <tr>
            <th>container</th>
            <th>state</th>
            <th>ready</th>
            <th>restarts</th>
            <th>CPU</th>
            <th>memory</th>
          </tr>
        </thead>
        <tbody>
          {names.length === 0 && (
            <EmptyRow columns={6} what="No containers yet.">
              {status ? "The pod reports none." : "Waiting for the pod's status from its cluster's collector."}
            </EmptyRow>
          )}
          {names.map((name) => {
            const state = status?.containers.find((c) => c.name === name);
            const usage = row?.usage?.containers.find((c) => c.name === name);
            return (
              <tr key={name} data-testid="pod-container" data-container={name}>
                <td>{name}</td>
                <td>
                  {state ? state.state : "—"}
                  {state?.reason ? ` (${state.reason}${state.exit_code !== undefined ? `, exit ${state.exit_code}` : ""})` : ""}
                </td>
                <td>{state ? (state.ready ? "yes" : "no") : "—"}</td>
                <td>{state?.restarts ?? "—"}</td>
                <td>{usage ? millicores(usage.cpu_millicores) + limits(usage.cpu_request_millicores, usage.cpu_limit_millicores, millicores) : "—"}</td>
                <td>{usage ? bytes(usage.memory_bytes) + limits(usage.memory_request_bytes, usage.memory_limit_bytes, bytes) : "—"}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {names.length > 1 && (
        <div className="toolbar">
          <span className="muted">log of</span>
          <select value={shown} onChange={(e) => setContainer(e.target.value)} aria-label="container" data-testid="log-container">
            {names.map((name) => (
              <option key={name}>{name}</option>
            ))}
          </select>
        </div>
      )}
      {shown ? (
        <LogViewer
          channel="k8s.logs"
          params={{ cluster, namespace, pod, container: shown }}
          olderUrl={podLogsUrl(cluster, namespace, pod, shown)}
          fileName={`${pod}-${shown}.log`}
          searchWhere={{ cluster, namespace, pod }}
        />
      ) : (
        <p className="muted">Waiting for the pod's containers…</p>
      )}
    </div>
  );
}
