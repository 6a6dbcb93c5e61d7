import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type PodStatus, PodStore, millicores, namespacesOf, podBadge, podLogsUrl, podRows, workloadLogs } from "../src/k8s";
import type { Listener, StreamManager } from "../src/stream/manager";

/** A manager that hands each channel's listener (and how it was asked for) to the test. */
function channels() {
  const listeners = new Map<string, Listener>();
  const asked: { channel: string; params: unknown; options: unknown }[] = [];
  const manager = {
    subscribe: (channel: string, params: unknown, listener: Listener, options?: unknown) => {
      listeners.set(channel, listener);
      asked.push({ channel, params, options });
      return () => listeners.delete(channel);
    },
  } as unknown as StreamManager;
  return { manager, listeners, asked };
}

function usage(namespace: string, name: string, cpu: number, memory: number) {
  return { id: `${namespace}/${name}`, namespace, name, node: "n1", cpu_millicores: cpu, memory_bytes: memory, containers: [] };
}

function metrics(...pods: ReturnType<typeof usage>[]) {
  return {
    type: "update" as const,
    data: { cluster: "c", time: "2026-01-01T00:00:00Z", interval_s: 10, metrics_available: true, pods, nodes: [{ id: "n1", cpu_millicores: 100, memory_bytes: 1 }] },
  };
}

function status(namespace: string, pod: string, fields: Partial<PodStatus> = {}): PodStatus {
  return {
    cluster: "c", namespace, pod, phase: "Running", ready: true, restarts: 0, node: "n1",
    containers: [{ name: "main", ready: true, restarts: 0, state: "running" }], event: "modified", time: "t",
    ...fields,
  };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe("PodStore", () => {
  it("asks for metrics deltas and status of the cluster, and of one pod for a pod page", () => {
    const { manager, asked } = channels();
    new PodStore("c").watch(manager);
    new PodStore("c").watch(manager, { namespace: "ns", pod: "p" });
    expect(asked).toEqual([
      { channel: "k8s.metrics", params: { cluster: "c" }, options: { delta: true } },
      { channel: "k8s.status", params: { cluster: "c" }, options: undefined },
      { channel: "k8s.metrics", params: { cluster: "c", namespace: "ns" }, options: { delta: true } },
      { channel: "k8s.status", params: { cluster: "c", namespace: "ns", pod: "p" }, options: undefined },
    ]);
  });

  it("joins usage and status by namespace/name, forgets deleted pods, renders once per tick", () => {
    const { manager, listeners } = channels();
    const store = new PodStore("c");
    store.watch(manager);
    const renders = vi.fn();
    store.subscribe(renders);
    listeners.get("k8s.metrics")?.(metrics(usage("a", "web", 12, 1024), usage("b", "db", 3, 2048)));
    listeners.get("k8s.status")?.({ type: "update", data: status("a", "web", { reason: "CrashLoopBackOff", restarts: 4, ready: false }) as never });
    listeners.get("k8s.status")?.({ type: "update", data: status("b", "db") as never });
    vi.advanceTimersByTime(250);
    expect(renders).toHaveBeenCalledTimes(1);
    expect(store.metricsAvailable).toBe(true);
    const web = store.rows.get("a/web");
    expect([web?.usage?.cpu_millicores, web?.status?.restarts, web?.status?.reason]).toEqual([12, 4, "CrashLoopBackOff"]);

    // Next batch without db: it keeps its status, loses its figures; a deleted pod goes.
    listeners.get("k8s.metrics")?.(metrics(usage("a", "web", 14, 1024)));
    expect(store.rows.get("b/db")?.usage).toBeUndefined();
    expect(store.rows.get("b/db")?.status?.phase).toBe("Running");
    listeners.get("k8s.status")?.({ type: "update", data: status("b", "db", { phase: "Deleted", event: "deleted" }) as never });
    expect(store.rows.has("b/db")).toBe(false);
  });

  it("says when the cluster has no metrics, and a refused subscription", () => {
    const { manager, listeners } = channels();
    const store = new PodStore("c");
    store.watch(manager);
    listeners.get("k8s.metrics")?.({ type: "update", data: { time: "t", metrics_available: false, reason: "no metrics.k8s.io", pods: [], nodes: [] } });
    listeners.get("k8s.status")?.({ type: "error", code: "FORBIDDEN", message: "no grant" });
    expect([store.metricsAvailable, store.reason, store.error]).toEqual([false, "no metrics.k8s.io", "FORBIDDEN: no grant"]);
  });
});

describe("the pods table", () => {
  const rows = [
    { id: "a/x", namespace: "a", name: "x", usage: usage("a", "x", 5, 300), status: status("a", "x", { restarts: 2 }) },
    { id: "b/y", namespace: "b", name: "y", usage: usage("b", "y", 50, 100) },
    { id: "a/z", namespace: "a", name: "z" }, // no figures yet
  ];

  it("filters by namespace and name and sorts by CPU, memory or restarts, pods without figures last", () => {
    const ids = (sort: "cpu" | "memory" | "restarts" | "name", namespace = "", search = "") =>
      podRows(rows, { namespace, search, sort }).map((r) => r.id);
    expect(ids("cpu")).toEqual(["b/y", "a/x", "a/z"]);
    expect(ids("memory")).toEqual(["a/x", "b/y", "a/z"]);
    expect(ids("restarts")).toEqual(["a/x", "a/z", "b/y"]);
    expect(ids("name")).toEqual(["a/x", "a/z", "b/y"]);
    expect(ids("cpu", "a")).toEqual(["a/x", "a/z"]);
    expect(ids("cpu", "", "Y")).toEqual(["b/y"]);
    expect(namespacesOf(rows)).toEqual(["a", "b"]);
  });

  it("badges: the reason before the phase, ready containers of all", () => {
    const two = [
      { name: "a", ready: true, restarts: 0, state: "running" },
      { name: "b", ready: false, restarts: 5, state: "waiting", reason: "CrashLoopBackOff" },
    ];
    expect(podBadge(status("n", "p", { ready: false, reason: "CrashLoopBackOff", containers: two }))).toEqual({ text: "CrashLoopBackOff", tone: "bad", ready: "1/2" });
    expect(podBadge(status("n", "p"))).toEqual({ text: "Running", tone: "ok", ready: "1/1" });
    expect(podBadge(status("n", "p", { ready: false })).tone).toBe("warn");
    expect(podBadge(status("n", "p", { phase: "Pending", ready: false })).tone).toBe("pending");
    expect(podBadge(status("n", "p", { phase: "Succeeded", ready: false })).tone).toBe("done");
    expect(podBadge(status("n", "p", { phase: "Failed", ready: false })).tone).toBe("bad");
    expect(podBadge(undefined)).toEqual({ text: "unknown", tone: "unknown", ready: "—" });
  });

  it("formats millicores and the log pages' URL", () => {
    expect([millicores(0.4), millicores(250), millicores(1250)]).toEqual(["0 m", "250 m", "1.25 cores"]);
    expect(podLogsUrl("c 1", "ns", "p")).toBe("/api/k8s/c%201/ns/p/logs");
    expect(podLogsUrl("c", "ns", "p", "main")).toBe("/api/k8s/c/ns/p/logs?container=main");
  });
});

describe("workloadLogs", () => {
  it("merges the logs of a pod's Deployment, StatefulSet or DaemonSet, in its namespace and cluster", () => {
    const web = status("shop", "web-1", { cluster: "east", owner: { kind: "Deployment", name: "web" } });
    expect(workloadLogs(web)).toEqual({ workload: "deployment/web", namespace: "shop", cluster: "east" });
    expect(workloadLogs(status("shop", "db-0", { owner: { kind: "StatefulSet", name: "db" } }))?.workload).toBe("statefulset/db");
    expect(workloadLogs(status("shop", "backup", { owner: { kind: "Job", name: "backup" } }))).toBeUndefined();
    expect(workloadLogs(status("shop", "bare"))).toBeUndefined();
  });
});
