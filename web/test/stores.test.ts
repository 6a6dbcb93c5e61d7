import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { AlertStore, ContainerStore, HostStore, phase, standing } from "../src/stores";
import type { Listener, StreamManager } from "../src/stream/manager";

/** A manager that hands each channel's listener to the test. */
function channels(): { manager: StreamManager; listeners: Map<string, Listener> } {
  const listeners = new Map<string, Listener>();
  const manager = {
    subscribe: (channel: string, _params: unknown, listener: Listener) => {
      listeners.set(channel, listener);
      return () => listeners.delete(channel);
    },
  } as unknown as StreamManager;
  return { manager, listeners };
}

function stats(host: string, time: string, ...containers: [string, number][]) {
  return {
    type: "update" as const,
    data: {
      host,
      time,
      containers: containers.map(([id, cpu]) => ({ id, name: `n-${id}`, image: "img", state: "running", cpu_percent: cpu, memory_percent: 1 })),
    },
  };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe("ContainerStore", () => {
  it("joins stats and status by host and id, keeps a history, and renders once per tick", () => {
    const { manager, listeners } = channels();
    const store = new ContainerStore();
    store.watch(manager);
    const renders = vi.fn();
    store.subscribe(renders);
    listeners.get("docker.stats")?.(stats("h1", "2026-01-01T00:00:00Z", ["a", 5], ["b", 1]));
    listeners.get("docker.stats")?.(stats("h1", "2026-01-01T00:00:01Z", ["a", 7]));
    listeners.get("docker.status")?.({ type: "update", data: { host: "h1", id: "b", name: "n-b", image: "img", status: "exited", event: "die", exit_code: 3, time: "t" } });
    expect(renders).not.toHaveBeenCalled();
    vi.advanceTimersByTime(250);
    expect(renders).toHaveBeenCalledTimes(1);
    const a = store.rows.get("h1/a");
    const b = store.rows.get("h1/b");
    expect(a?.history.values[0]).toEqual([5, 7]);
    expect(a?.stats?.cpu_percent).toBe(7);
    expect(b?.stats).toBeUndefined(); // not in the newest batch: not running
    expect([b?.status, b?.exitCode]).toEqual(["exited", 3]);
  });

  it("forgets a destroyed container and notes whether a host's Docker answers", () => {
    const { manager, listeners } = channels();
    const store = new ContainerStore();
    store.watch(manager);
    const status = listeners.get("docker.status");
    status?.({ type: "update", data: { host: "h1", id: "c", name: "c", image: "img", status: "running", event: "start", time: "t" } });
    status?.({ type: "update", data: { host: "h1", available: false, reason: "down", time: "t" } });
    expect(store.rows.has("h1/c")).toBe(true);
    status?.({ type: "update", data: { host: "h1", id: "c", name: "c", image: "img", status: "removed", event: "destroy", time: "t" } });
    expect(store.rows.has("h1/c")).toBe(false);
    expect(store.dockerSources.get("h1")).toEqual({ available: false, reason: "down" });
  });
});

describe("AlertStore", () => {
  it("lists the newest first and counts a condition active until it is resolved", () => {
    const { manager, listeners } = channels();
    const store = new AlertStore();
    store.watch(manager);
    const alert = (id: string, state: string) => ({ type: "update" as const, data: { id, state, message: `${id} ${state}` } });
    listeners.get("alerts")?.(alert("cpu", "raised"));
    listeners.get("alerts")?.(alert("disk", "raised"));
    listeners.get("alerts")?.(alert("cpu", "resolved"));
    expect(store.alerts.map((a) => a.message)).toEqual(["cpu resolved", "disk raised", "cpu raised"]);
    expect(store.active().map((a) => a.id)).toEqual(["disk"]);
    expect(store.recent().map((a) => a.id)).toEqual(["cpu"]);
  });

  it("keeps who acknowledged an alert through its resolution, and forgets it when it is raised anew", () => {
    const { manager, listeners } = channels();
    const store = new AlertStore();
    store.watch(manager);
    const ack = { by: "otto", note: "on it", time: "2026-01-01T00:01:00Z" };
    const send = (state: string, time: string, acknowledged?: typeof ack) =>
      listeners.get("alerts")?.({ type: "update", data: { id: "cpu", state, time, message: state, ...(acknowledged ? { acknowledged } : {}) } });

    send("raised", "2026-01-01T00:00:00Z");
    expect(store.active().map(phase)).toEqual(["raised"]);
    send("raised", "2026-01-01T00:01:00Z", ack);
    const [acknowledged] = store.active();
    expect(phase(acknowledged)).toBe("acknowledged");
    expect(acknowledged.acknowledged).toEqual(ack);
    expect(acknowledged.raisedAt).toBe("2026-01-01T00:00:00Z"); // not the acknowledgement's time

    send("resolved", "2026-01-01T00:02:00Z"); // a collector's resolution: it does not know
    expect(store.active()).toEqual([]);
    const [resolved] = store.recent();
    expect(resolved.acknowledged).toEqual(ack);
    expect(phase(resolved)).toBe("resolved");

    send("raised", "2026-01-01T00:03:00Z");
    const [again] = store.active();
    expect(again.raisedAt).toBe("2026-01-01T00:03:00Z");
    expect(again.acknowledged).toBeUndefined();
    expect(store.recent()).toEqual([]);
  });

  it("orders alerts by their latest transition, newest first", () => {
    const at = (id: string, state: "raised" | "resolved", time: string) =>
      ({ id, state, time, message: "", source: "host", host: "h1", metric: "cpu", value: 0, threshold: 0 }) as const;
    // newest first, as the store keeps them
    const views = standing([at("a", "resolved", "t4"), at("b", "raised", "t3"), at("a", "raised", "t2"), at("c", "raised", "t1")]);
    expect(views.map((v) => `${v.id} ${v.state} ${v.raisedAt}`)).toEqual(["a resolved t2", "b raised t3", "c raised t1"]);
  });
});

describe("HostStore", () => {
  const sample = (host: string, time: string) => ({
    type: "update" as const,
    data: {
      host,
      time,
      cpu: { percent: 1 },
      memory: { percent: 2, used: 0, total: 1 },
      filesystems: [],
      disk_io: { read_bytes_per_s: 0, write_bytes_per_s: 0 },
      network: { rx_bytes_per_s: 0, tx_bytes_per_s: 0 },
      load: { one: 0 },
      uptime_s: 0,
    },
  });

  it("renders a new host at once (its card and its history's fetch), its next samples once a tick", () => {
    const { manager, listeners } = channels();
    const store = new HostStore();
    store.watch(manager);
    const renders = vi.fn();
    store.subscribe(renders);
    listeners.get("host.metrics")?.(sample("h1", "2026-01-01T00:00:00Z"));
    expect(renders).toHaveBeenCalledTimes(1);
    listeners.get("host.metrics")?.(sample("h1", "2026-01-01T00:00:02Z"));
    listeners.get("host.metrics")?.(sample("h1", "2026-01-01T00:00:04Z"));
    expect(renders).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(250);
    expect(renders).toHaveBeenCalledTimes(2);
    expect(store.hosts.get("h1")?.history.times.length).toBe(3);
  });
});
