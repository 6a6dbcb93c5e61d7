import { beforeEach, describe, expect, it } from "vitest";
import { type ConnectionState, StreamManager } from "../src/stream/manager";
import type { ChannelEvent } from "../src/stream/protocol";
import { FakeBrowser, FakeCredentials, settle } from "./fakes";

let browser: FakeBrowser;
let credentials: FakeCredentials;
let manager: StreamManager;
let states: ConnectionState[];

beforeEach(() => {
  browser = new FakeBrowser();
  credentials = new FakeCredentials();
  manager = new StreamManager("http://gw", credentials, browser);
  states = [];
  manager.onState((state) => states.push(state));
});

function logs(events: ChannelEvent[]): () => void {
  return manager.subscribe("docker.logs", { container: "abc", host: "h1" }, (e) => events.push(e));
}

function line(cursor: number): Record<string, unknown> {
  return { type: "update", channel: "docker.logs?container=abc&host=h1", data: { n: cursor }, cursor };
}

describe("StreamManager over a WebSocket", () => {
  it("opens one socket with the token as a subprotocol and subscribes once connected", () => {
    const events: ChannelEvent[] = [];
    logs(events);
    manager.subscribe("host.metrics", {}, () => {});
    manager.start();
    const socket = browser.lastSocket();
    expect(browser.sockets).toHaveLength(1);
    expect(socket.url).toBe("ws://gw/ws");
    expect(socket.protocols).toEqual(["vigil", "bearer.token-1"]);
    expect(socket.subscribes()).toEqual([]);
    socket.accept();
    expect(manager.state().status).toBe("live");
    expect(socket.subscribes().map((m) => m.channel)).toEqual(["docker.logs", "host.metrics"]);
    socket.deliver(line(5));
    expect(events).toEqual([{ type: "update", data: { n: 5 }, cursor: 5, key: undefined }]);
  });

  it("answers the server's ping with pong", () => {
    manager.start();
    browser.lastSocket().accept();
    browser.lastSocket().deliver({ type: "ping", time: "now" });
    expect(browser.lastSocket().sent).toContainEqual({ type: "pong" });
  });

  it("reconnects after 2, 5, 10, 30 s, saying reconnecting and then offline", () => {
    manager = new StreamManager("http://gw", credentials, browser, {
      socketFailuresBeforeFallback: Infinity, // this test watches the schedule alone
    });
    manager.start();
    browser.lastSocket().accept();
    browser.lastSocket().drop(1006);
    const waits: number[] = [];
    const statuses: string[] = [];
    for (let i = 0; i < 5; i++) {
      waits.push(browser.nextTimerIn());
      statuses.push(manager.state().status);
      browser.advance(browser.nextTimerIn());
      browser.lastSocket().drop(1006);
    }
    expect(waits).toEqual([2000, 5000, 10000, 30000, 30000]);
    expect(statuses).toEqual(["reconnecting", "reconnecting", "reconnecting", "offline", "offline"]);
    browser.advance(browser.nextTimerIn());
    browser.lastSocket().accept();
    expect(manager.state().status).toBe("live");
    browser.lastSocket().drop(1006);
    expect(browser.nextTimerIn()).toBe(2000); // a socket that opened starts the schedule again
  });

  it("resumes stream channels from the last cursor and drops repeated frames", () => {
    const events: ChannelEvent[] = [];
    logs(events);
    manager.start();
    browser.lastSocket().accept();
    browser.lastSocket().deliver(line(10));
    browser.lastSocket().deliver(line(11));
    browser.lastSocket().drop(1012);
    browser.advance(browser.nextTimerIn());
    const socket = browser.lastSocket();
    socket.accept();
    expect(socket.subscribes()).toEqual([
      { type: "subscribe", channel: "docker.logs", params: { container: "abc", host: "h1" }, since: 11 },
    ]);
    socket.deliver(line(11)); // a replica that sent it again
    socket.deliver(line(12));
    expect(events.map((e) => (e.type === "update" ? e.cursor : e.type))).toEqual([10, 11, 12]);
  });

  it("maps the channel the gateway names back to the subscription", () => {
    const events: ChannelEvent[] = [];
    manager.subscribe("docker.logs", { container: "web" }, (e) => events.push(e));
    manager.start();
    const socket = browser.lastSocket();
    socket.accept();
    socket.deliver({ type: "subscribed", channel: "docker.logs?container=0123456789ab&host=h1", kind: "stream", remaining: 9 });
    socket.deliver({ type: "update", channel: "docker.logs?container=0123456789ab&host=h1", data: {}, cursor: 3 });
    socket.deliver({ type: "gap", channel: "docker.logs?container=0123456789ab&host=h1", dropped: 4 });
    expect(events.map((e) => e.type)).toEqual(["update", "gap"]);
  });

  it("moves the cursor on a reset so the next resume starts at the oldest kept", () => {
    const events: ChannelEvent[] = [];
    logs(events);
    manager.start();
    browser.lastSocket().accept();
    browser.lastSocket().deliver({ type: "reset", channel: "docker.logs?container=abc&host=h1", since: 3, first_cursor: 50 });
    expect(events).toEqual([{ type: "reset", since: 3, firstCursor: 50 }]);
    browser.lastSocket().drop(1006);
    browser.advance(browser.nextTimerIn());
    browser.lastSocket().accept();
    expect(browser.lastSocket().subscribes()[0].since).toBe(49);
  });

  it("unsubscribes when the last listener goes, and does not resubscribe it", () => {
    const stop = logs([]);
    manager.start();
    browser.lastSocket().accept();
    stop();
    expect(browser.lastSocket().sent.at(-1)).toEqual({
      type: "unsubscribe",
      channel: "docker.logs",
      params: { container: "abc", host: "h1" },
    });
    browser.lastSocket().drop(1006);
    browser.advance(browser.nextTimerIn());
    browser.lastSocket().accept();
    expect(browser.lastSocket().subscribes()).toEqual([]);
  });

  it("retries a rate-limited subscribe after the time the gateway names", () => {
    manager.start();
    browser.lastSocket().accept();
    logs([]);
    browser.lastSocket().deliver({
      type: "error",
      code: "RATE_LIMITED",
      message: "slow down",
      remaining: 0,
      retry_after_s: 7,
    });
    expect(browser.lastSocket().subscribes()).toHaveLength(1);
    browser.advance(6_999);
    expect(browser.lastSocket().subscribes()).toHaveLength(1);
    browser.advance(1);
    expect(browser.lastSocket().subscribes()).toHaveLength(2);
  });

  it("on 4001 refreshes the token and reconnects with the new one at once", async () => {
    manager.start();
    browser.lastSocket().accept();
    browser.lastSocket().drop(4001);
    await settle();
    expect(credentials.refreshes).toBe(1);
    expect(browser.sockets).toHaveLength(2);
    expect(browser.lastSocket().protocols).toEqual(["vigil", "bearer.token-2"]);
  });

  it("on 4001 with no way to refresh, asks for a login", async () => {
    let loggedOut = false;
    manager.onLoggedOut(() => (loggedOut = true));
    credentials.refreshWorks = false;
    manager.start();
    browser.lastSocket().accept();
    browser.lastSocket().drop(4001);
    await settle();
    expect(loggedOut).toBe(true);
    expect(manager.state().status).toBe("offline");
    expect(browser.nextTimerIn()).toBe(Infinity);
  });

  it("on 4001 while the auth service is away, keeps the session and tries again later", async () => {
    let loggedOut = false;
    manager.onLoggedOut(() => (loggedOut = true));
    credentials.authAway = true;
    manager.start();
    browser.lastSocket().accept();
    browser.lastSocket().drop(4001);
    await settle();
    expect(loggedOut).toBe(false);
    expect(manager.state().status).toBe("reconnecting");
    credentials.authAway = false;
    browser.advance(browser.nextTimerIn());
    await settle();
    expect(credentials.refreshes).toBe(2);
    expect(browser.lastSocket().protocols).toEqual(["vigil", "bearer.token-3"]);
  });

  it("sends reauth with a fresh token before the old one expires", async () => {
    credentials.expires = 600_000;
    manager.start();
    browser.lastSocket().accept();
    browser.advance(540_000);
    await settle();
    expect(browser.lastSocket().sent).toContainEqual({ type: "reauth", token: "token-2" });
  });

  it("applies deltas to the snapshot of their key, and re-subscribes on a broken sequence", () => {
    const events: ChannelEvent[] = [];
    manager.subscribe("docker.stats", {}, (e) => events.push(e), { delta: true });
    manager.start();
    const socket = browser.lastSocket();
    socket.accept();
    expect(socket.subscribes()[0].delta).toBe(true);
    socket.deliver({ type: "update", channel: "docker.stats", key: "h1", seq: 1, data: { host: "h1", containers: [{ id: "a", cpu_percent: 1 }] } });
    socket.deliver({ type: "delta", channel: "docker.stats", key: "h1", seq: 2, items: "containers", changed: { a: { cpu_percent: 5 } } });
    const last = events.at(-1);
    expect(last?.type === "update" && last.data).toEqual({ host: "h1", containers: [{ id: "a", cpu_percent: 5 }] });
    socket.deliver({ type: "delta", channel: "docker.stats", key: "h1", seq: 4, set: { x: 1 } });
    expect(events).toHaveLength(2);
    expect(socket.sent.slice(-2).map((m) => m.type)).toEqual(["unsubscribe", "subscribe"]);
  });

  it("asks again without deltas when the gateway does not know them", () => {
    manager.subscribe("docker.stats", {}, () => {}, { delta: true });
    manager.start();
    const socket = browser.lastSocket();
    socket.accept();
    socket.deliver({ type: "error", code: "INVALID_MESSAGE", message: "invalid message: delta: Extra inputs are not permitted" });
    expect(socket.subscribes().map((m) => m.delta)).toEqual([true, undefined]);
  });

  it("tells a subscriber why its subscribe was refused, in the order requests went out", () => {
    const refused: ChannelEvent[] = [];
    manager.subscribe("host.metrics", {}, () => {});
    manager.subscribe("deploy", { id: "nope" }, (e) => refused.push(e));
    manager.start();
    const socket = browser.lastSocket();
    socket.accept();
    socket.deliver({ type: "subscribed", channel: "host.metrics", kind: "state", remaining: 9 });
    socket.deliver({ type: "error", code: "NOT_FOUND", message: "no such deploy", channel: "deploy", remaining: 8 });
    expect(refused).toEqual([{ type: "error", code: "NOT_FOUND", message: "no such deploy" }]);
  });

  it("hands questions to the app and sends its answer", () => {
    const asked: string[] = [];
    manager.onAsk((ask) => asked.push(ask.requestId));
    manager.start();
    browser.lastSocket().accept();
    browser.lastSocket().deliver({ type: "ask", requestId: "q1", kind: "confirm_deploy", question: "?", data: {}, timeout_s: 30 });
    manager.answer("q1", { confirm: true });
    expect(asked).toEqual(["q1"]);
    expect(browser.lastSocket().sent.at(-1)).toEqual({ type: "answer", requestId: "q1", data: { confirm: true } });
  });
});

describe("StreamManager's fallbacks", () => {
  function blockSockets(times: number): void {
    for (let i = 0; i < times; i++) {
      browser.lastSocket().drop(1006); // refused before it opened
      if (i < times - 1) browser.advance(browser.nextTimerIn());
    }
  }

  it("falls back to SSE after two sockets that never opened, resuming from the cursor", () => {
    const events: ChannelEvent[] = [];
    logs(events);
    manager.start();
    browser.lastSocket().accept();
    browser.lastSocket().deliver(line(20));
    browser.lastSocket().drop(1006);
    browser.advance(browser.nextTimerIn());
    blockSockets(2);
    expect(manager.state()).toMatchObject({ status: "fallback", transport: "sse" });
    const stream = browser.streams[0];
    expect(stream.url).toBe("http://gw/sse/channels/docker.logs?container=abc&host=h1&since=20&token=token-1");
    stream.open();
    stream.deliver(line(21));
    expect(events.map((e) => (e.type === "update" ? e.cursor : e.type))).toEqual([20, 21]);
  });

  it("streams the four newest channels over SSE and polls the older ones", () => {
    for (const host of ["a", "b", "c", "d", "e"]) manager.subscribe("host.metrics", { host }, () => {});
    manager.start();
    blockSockets(2);
    const open = browser.streams.filter((stream) => !stream.closed);
    expect(open.map((stream) => stream.url.match(/host=(\w)/)?.[1])).toEqual(["b", "c", "d", "e"]);
    expect(browser.fetches).toEqual(["http://gw/api/poll/channels/host.metrics?host=a"]);
    manager.subscribe("docker.logs", { container: "abc" }, () => {});
    expect(browser.fetches.at(-1)).toBe("http://gw/api/poll/channels/host.metrics?host=b");
    expect(browser.streams.at(-1)?.url).toContain("/sse/channels/docker.logs");
  });

  it("falls back to polling when SSE streams fail to open too", async () => {
    const events: ChannelEvent[] = [];
    logs(events);
    browser.pollAnswer = () =>
      new Response(JSON.stringify({ channel: "x", messages: [line(31)], next_cursor: 31 }), { status: 200 });
    manager.start();
    blockSockets(2);
    browser.streams[0].fail();
    browser.advance(browser.nextTimerIn());
    browser.streams[1].fail();
    expect(manager.state().transport).toBe("polling");
    await settle();
    expect(browser.fetches[0]).toBe("http://gw/api/poll/channels/docker.logs?container=abc&host=h1");
    expect(events).toHaveLength(1);
    browser.advance(2000);
    await settle();
    expect(browser.fetches[1]).toContain("since=31");
  });

  it("tries a socket again while on a fallback and moves back to it once one opens", () => {
    const events: ChannelEvent[] = [];
    logs(events);
    manager.start();
    blockSockets(2);
    const stream = browser.streams[0];
    stream.open();
    stream.deliver(line(40));
    browser.advance(30_000);
    const socket = browser.lastSocket();
    expect(browser.sockets).toHaveLength(3);
    socket.accept();
    expect(stream.closed).toBe(true);
    expect(manager.state()).toMatchObject({ status: "live", transport: "websocket" });
    expect(socket.subscribes()[0].since).toBe(40);
  });

  it("reopens an SSE stream the gateway closed with 4001 with a fresh token", async () => {
    logs([]);
    manager.start();
    blockSockets(2);
    browser.streams[0].open();
    browser.streams[0].closeWith(4001);
    await settle();
    expect(browser.streams).toHaveLength(2);
    expect(browser.streams[1].url).toContain("token=token-2");
  });
});
