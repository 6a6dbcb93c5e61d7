import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { beforeEach, describe, expect, it } from "vitest";
import { RefusalList } from "../src/components/RefusalNote";
import { StreamManager } from "../src/stream/manager";
import { type Refusal, refusalText } from "../src/stream/refusals";
import { FakeBrowser, FakeCredentials, settle } from "./fakes";

const LOGS = "docker.logs?container=abc&host=h1";

let browser: FakeBrowser;
let manager: StreamManager;
let board: ReadonlyMap<string, Refusal>;

beforeEach(() => {
  browser = new FakeBrowser();
  manager = new StreamManager("http://gw", new FakeCredentials(), browser);
  board = new Map();
  manager.onRefusals((refusals) => (board = refusals));
});

function logs(): () => void {
  return manager.subscribe("docker.logs", { container: "abc", host: "h1" }, () => {});
}

function live() {
  manager.start();
  const socket = browser.lastSocket();
  socket.accept();
  return socket;
}

const rateLimited = (retryAfterS: number) => ({
  type: "error",
  code: "RATE_LIMITED",
  message: "more than 10 requests in 60 s; retry after the window",
  remaining: 0,
  retry_after_s: retryAfterS,
});

describe("a channel the gateway refuses for now", () => {
  it("is on the board with its retry time while rate limited, and leaves it once subscribed", () => {
    const socket = live();
    logs();
    socket.deliver(rateLimited(7));
    expect(board.get(LOGS)).toMatchObject({ code: "RATE_LIMITED", retryAt: 7000, scope: "channel" });
    browser.advance(7000);
    expect(socket.subscribes()).toHaveLength(2);
    expect(board.has(LOGS)).toBe(true); // asked again, not yet answered
    socket.deliver({ type: "subscribed", channel: LOGS, kind: "stream", remaining: 9 });
    expect(board.size).toBe(0);
  });

  it("waits for one of its own subscriptions to go when the socket holds its most", () => {
    const socket = live();
    const hosts = manager.subscribe("host.metrics", {}, () => {});
    socket.deliver({ type: "subscribed", channel: "host.metrics", kind: "state", remaining: 9 });
    logs();
    socket.deliver({
      type: "error",
      code: "LIMIT_REACHED",
      message: "at most 1 subscriptions per socket; unsubscribe from one first",
      channel: LOGS,
      remaining: 8,
    });
    expect(board.get(LOGS)).toMatchObject({ code: "LIMIT_REACHED", retryAt: null });
    browser.advance(60_000);
    expect(socket.subscribes()).toHaveLength(2); // no retry by the clock: it would be refused again
    hosts();
    socket.deliver({ type: "unsubscribed", channel: "host.metrics", remaining: 7 });
    expect(socket.subscribes().at(-1)?.channel).toBe("docker.logs");
    socket.deliver({ type: "subscribed", channel: LOGS, kind: "stream", remaining: 6 });
    expect(board.size).toBe(0);
  });

  it("tries a subscribe refused UNAVAILABLE again, backing off", () => {
    const socket = live();
    logs();
    const unavailable = { type: "error", code: "UNAVAILABLE", message: "the deployer is away", remaining: 9 };
    socket.deliver(unavailable);
    expect(board.get(LOGS)).toMatchObject({ code: "UNAVAILABLE", retryAt: 2000 });
    browser.advance(2000);
    socket.deliver(unavailable);
    expect(board.get(LOGS)?.retryAt).toBe(2000 + 5000);
    browser.advance(5000);
    expect(socket.subscribes()).toHaveLength(3);
  });

  it("says the bus is away on every channel until data comes on any", () => {
    const socket = live();
    logs();
    manager.subscribe("host.metrics", {}, () => {});
    socket.deliver({ type: "subscribed", channel: LOGS, kind: "stream", remaining: 9 });
    socket.deliver({ type: "subscribed", channel: "host.metrics", kind: "state", remaining: 8 });
    socket.deliver({ type: "error", code: "UNAVAILABLE", message: "the message bus is unavailable" });
    expect([...board.keys()].sort()).toEqual([LOGS, "host.metrics"]);
    expect(board.get(LOGS)).toMatchObject({ scope: "bus", retryAt: null });
    socket.deliver({ type: "update", channel: "host.metrics", data: { host: "h1" } });
    expect(board.size).toBe(0); // the bus answers again: the quiet log is not away either
  });

  it("says one channel is away until data comes on it", () => {
    const socket = live();
    logs();
    manager.subscribe("host.metrics", {}, () => {});
    socket.deliver({ type: "subscribed", channel: LOGS, kind: "stream", remaining: 9 });
    socket.deliver({ type: "subscribed", channel: "host.metrics", kind: "state", remaining: 8 });
    socket.deliver({ type: "error", code: "UNAVAILABLE", message: "its history is delayed", channel: LOGS });
    socket.deliver({ type: "update", channel: "host.metrics", data: { host: "h1" } });
    expect(board.get(LOGS)).toMatchObject({ code: "UNAVAILABLE", scope: "channel" });
    socket.deliver({ type: "update", channel: LOGS, data: { lines: [] }, cursor: 3 });
    expect(board.size).toBe(0);
  });

  it("leaves the board when its view unsubscribes, and is asked afresh on a new socket", () => {
    let socket = live();
    const stop = logs();
    socket.deliver(rateLimited(30));
    stop();
    expect(board.size).toBe(0);
    logs();
    socket.deliver({ type: "error", code: "NOT_FOUND", message: "not subscribed", channel: LOGS, remaining: 9 }); // the unsubscribe
    socket.deliver(rateLimited(30));
    expect(board.size).toBe(1);
    socket.drop(1006);
    browser.advance(browser.nextTimerIn());
    socket = browser.lastSocket();
    socket.accept();
    expect(board.size).toBe(0);
    expect(socket.subscribes()).toHaveLength(1);
    browser.advance(30_000);
    expect(socket.subscribes()).toHaveLength(1); // the old socket's retry is dropped
  });

  it("sends a rate-limited unsubscribe again, so the gateway stops sending what nobody reads", () => {
    const socket = live();
    const stop = logs();
    socket.deliver({ type: "subscribed", channel: LOGS, kind: "stream", remaining: 9 });
    stop();
    socket.deliver(rateLimited(4));
    const unsubscribes = () => socket.sent.filter((message) => message.type === "unsubscribe");
    expect(unsubscribes()).toHaveLength(1);
    browser.advance(4000);
    expect(unsubscribes()).toHaveLength(2);
  });

  it("does not send a refused unsubscribe again once the channel is watched again", () => {
    const socket = live();
    const stop = logs();
    socket.deliver({ type: "subscribed", channel: LOGS, kind: "stream", remaining: 9 });
    stop();
    socket.deliver(rateLimited(4));
    logs(); // the view is back before the retry: its lines must keep coming
    browser.advance(4000);
    expect(socket.sent.filter((message) => message.type === "unsubscribe")).toHaveLength(1);
  });

  it("is told when a poll is refused, polls again after Retry-After, and clears on an answer", async () => {
    let refuse = true;
    browser.pollAnswer = () =>
      refuse
        ? new Response(JSON.stringify({ detail: { code: "UNAVAILABLE", message: "the message bus is unavailable" } }), {
            status: 503,
            headers: { "Retry-After": "5" },
          })
        : new Response(JSON.stringify({ channel: LOGS, messages: [], next_cursor: 1 }), { status: 200 });
    manager = new StreamManager("http://gw", new FakeCredentials(), browser, {
      socketFailuresBeforeFallback: 1,
      sseFailuresBeforePolling: 1,
    });
    manager.onRefusals((refusals) => (board = refusals));
    logs();
    manager.start();
    browser.lastSocket().drop(1006);
    browser.streams[0].fail();
    await settle();
    expect(manager.state().transport).toBe("polling");
    expect(board.get(LOGS)).toMatchObject({ code: "UNAVAILABLE", retryAt: browser.time + 5000 });
    browser.advance(2000);
    await settle();
    expect(browser.fetches).toHaveLength(1); // not at the usual 2 s: when the gateway said
    refuse = false;
    browser.advance(3000);
    await settle();
    expect(browser.fetches).toHaveLength(2);
    expect(board.size).toBe(0);
  });
});

describe("what a view says", () => {
  const refusal: Refusal = { code: "RATE_LIMITED", message: "more than 10 requests in 60 s.", retryAt: 7_000, scope: "channel" };

  it("names the refusal, the gateway's reason and the wait, counting down", () => {
    expect(refusalText(refusal, 0)).toBe(
      "The gateway refused this for now (RATE_LIMITED: more than 10 requests in 60 s). Trying again in 7 s.",
    );
    expect(refusalText(refusal, 6_500)).toMatch(/Trying again in 1 s\.$/);
    expect(refusalText(refusal, 7_000)).toMatch(/Trying again…$/);
    expect(refusalText({ ...refusal, code: "LIMIT_REACHED", retryAt: null }, 0)).toMatch(
      /^The gateway refused this \(LIMIT_REACHED: .*\)\. It is tried again when another view closes\.$/,
    );
    expect(refusalText({ ...refusal, code: "UNAVAILABLE", retryAt: null, scope: "bus" }, 0)).toMatch(
      /^Not live \(UNAVAILABLE: .*\)\. It resumes by itself\.$/,
    );
  });

  it("renders each refusal once, and nothing when there is none", () => {
    const html = renderToStaticMarkup(createElement(RefusalList, { refusals: [refusal, { ...refusal }], now: 0 }));
    expect(html.match(/data-testid="refusal"/g)).toHaveLength(1);
    expect(html).toContain('data-code="RATE_LIMITED"');
    expect(html).toContain("Trying again in 7 s.");
    expect(renderToStaticMarkup(createElement(RefusalList, { refusals: [], now: 0 }))).toBe("");
  });
});
