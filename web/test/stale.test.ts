import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { StaleNote, staleClass } from "../src/components/Stale";
import { staleAge } from "../src/stale";
import { HostCard } from "../src/views/HostOverview";
import { ContainerStore, HostStore } from "../src/stores";
import { type Listener, StreamManager } from "../src/stream/manager";
import type { ChannelEvent } from "../src/stream/protocol";
import { FakeBrowser, FakeCredentials, settle } from "./fakes";

const STALE = { type: "stale", channel: "host.metrics", key: "metrics.host.web1", age_s: 6.2, interval_s: 2 };
const FRESH = { type: "fresh", channel: "host.metrics", key: "metrics.host.web1" };

function sample(host: string) {
  return {
    host,
    time: "2026-11-23T00:00:00Z",
    cpu: { percent: 5 },
    memory: { percent: 10, used: 1, total: 10 },
    filesystems: [],
    disk_io: { read_bytes_per_s: 0, write_bytes_per_s: 0 },
    network: { rx_bytes_per_s: 0, tx_bytes_per_s: 0 },
    load: { one: 0 },
    uptime_s: 1,
  };
}

describe("the stream manager", () => {
  let browser: FakeBrowser;
  let manager: StreamManager;
  beforeEach(() => {
    browser = new FakeBrowser();
    manager = new StreamManager("http://gw", new FakeCredentials(), browser);
  });

  it("hands a channel's stale and fresh marks to its listeners, fresh only after stale", () => {
    const events: ChannelEvent[] = [];
    manager.subscribe("host.metrics", {}, (event) => events.push(event));
    manager.start();
    const socket = browser.lastSocket();
    socket.accept();
    socket.deliver({ type: "subscribed", channel: "host.metrics", kind: "state" });
    socket.deliver(FRESH); // never marked: nothing to say
    socket.deliver(STALE);
    socket.deliver(FRESH);
    expect(events).toEqual([
      { type: "stale", key: "metrics.host.web1", ageS: 6.2, intervalS: 2, reason: undefined },
      { type: "fresh", key: "metrics.host.web1" },
    ]);
  });

  it("drops the old marks when it subscribes again on a new socket (the gateway marks again)", () => {
    const events: ChannelEvent[] = [];
    manager.subscribe("host.metrics", {}, (event) => events.push(event));
    manager.start();
    browser.lastSocket().accept();
    browser.lastSocket().deliver({ type: "subscribed", channel: "host.metrics", kind: "state" });
    browser.lastSocket().deliver(STALE);
    browser.lastSocket().drop(1006);
    browser.advance(browser.nextTimerIn());
    browser.lastSocket().accept();
    browser.lastSocket().deliver({ type: "subscribed", channel: "host.metrics", kind: "state" });
    expect(events.map((event) => event.type)).toEqual(["stale", "fresh"]);
  });

  it("turns a poll's `stale` list into marks, and a key no longer listed into fresh", async () => {
    const events: ChannelEvent[] = [];
    manager.subscribe("host.metrics", {}, (event) => events.push(event));
    let stale = [{ key: "metrics.host.web1", age_s: 7, interval_s: 2 }];
    browser.pollAnswer = () =>
      new Response(JSON.stringify({ channel: "host.metrics", messages: [{ type: "update", channel: "host.metrics", data: sample("web1") }], stale }), {
        status: 200,
      });
    manager.start();
    browser.lastSocket().drop(1006); // sockets refused twice, then event streams twice
    browser.advance(browser.nextTimerIn());
    browser.lastSocket().drop(1006);
    browser.streams[0].fail();
    browser.advance(browser.nextTimerIn());
    browser.streams[1].fail();
    expect(manager.state().transport).toBe("polling");
    await settle();
    expect(events.map((event) => event.type)).toEqual(["update", "stale"]);
    browser.advance(2000);
    await settle();
    expect(events.map((event) => event.type)).toEqual(["update", "stale", "update"]); // still stale: said once
    stale = [];
    browser.advance(2000);
    await settle();
    expect(events.map((event) => event.type)).toEqual(["update", "stale", "update", "fresh", "update"]);
  });
});

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

describe("the stores and the dashboard", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("keeps a host's last figures, marked stale until fresh, and greys them meanwhile", () => {
    const { manager, listeners } = channels();
    const hosts = new HostStore();
    hosts.watch(manager);
    const listen = listeners.get("host.metrics");
    listen?.({ type: "update", data: sample("web1") });
    listen?.({ type: "update", data: sample("web2") });
    listen?.({ type: "stale", key: "metrics.host.web1", ageS: 6.2, intervalS: 2 });
    expect(hosts.hosts.get("web1")?.latest.cpu.percent).toBe(5); // still shown
    expect([...hosts.stale.keys()]).toEqual(["web1"]);
    const stale = hosts.stale.get("web1");
    expect(staleClass("card", stale)).toBe("card stale");
    expect(staleClass("card", hosts.stale.get("web2"))).toBe("card");
    vi.advanceTimersByTime(10_000);
    expect(staleAge(stale!, Date.now())).toBeCloseTo(16.2);
    const note = renderToStaticMarkup(createElement(StaleNote, { stale, now: Date.now() }));
    expect(note).toContain("stale · no data for 16 s");
    expect(renderToStaticMarkup(createElement(StaleNote, { stale: undefined }))).toBe("");
    const card = (host: string) =>
      renderToStaticMarkup(createElement(HostCard, { view: hosts.hosts.get(host)!, stale: hosts.stale.get(host) }));
    expect(card("web1")).toMatch(/^<section class="card stale" data-testid="host-web1">/);
    expect(card("web1")).toContain("stale · no data for 16 s");
    expect(card("web2")).toMatch(/^<section class="card" data-testid="host-web2">/);
    expect(card("web2")).not.toContain("stale");
    listen?.({ type: "fresh", key: "metrics.host.web1" });
    expect(hosts.stale.size).toBe(0);
    expect(card("web1")).toMatch(/^<section class="card" data-testid="host-web1">/);
  });

  it("marks the container rows of a host whose stats stopped, by the host in the key", () => {
    const { manager, listeners } = channels();
    const containers = new ContainerStore();
    containers.watch(manager);
    const renders = vi.fn();
    containers.subscribe(renders);
    const reason = "the Docker engine does not answer: connection refused";
    listeners.get("docker.stats")?.({ type: "stale", key: "metrics.docker.h1", ageS: 7, intervalS: 2, reason });
    expect([...containers.staleHosts.keys()]).toEqual(["h1"]);
    const note = renderToStaticMarkup(createElement(StaleNote, { stale: containers.staleHosts.get("h1"), now: Date.now() }));
    expect(note).toContain(`stale · no data for 7 s · ${reason}`);
    vi.advanceTimersByTime(250);
    expect(renders).toHaveBeenCalledTimes(1); // the rows re-render, greyed
    listeners.get("docker.stats")?.({ type: "fresh", key: "metrics.docker.h1" });
    expect(containers.staleHosts.size).toBe(0);
  });
});
