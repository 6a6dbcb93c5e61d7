// A hand-driven browser for the stream manager's unit tests: sockets, event streams,
// fetches and a clock that the test moves.

import type { Credentials, Environment, EventSourceLike, SocketLike } from "../src/stream/environment";

export class FakeSocket implements SocketLike {
  readyState = 0;
  onopen: SocketLike["onopen"] = null;
  onmessage: SocketLike["onmessage"] = null;
  onclose: SocketLike["onclose"] = null;
  onerror: SocketLike["onerror"] = null;
  sent: Record<string, unknown>[] = [];
  closedWith: number | null = null;

  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {}

  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }

  close(code = 1000): void {
    this.closedWith = code;
  }

  /** The gateway: opens the socket and says `connected`. */
  accept(): void {
    this.readyState = 1;
    this.onopen?.({});
    this.deliver({ type: "connected", connection_id: "c1", heartbeat_interval_s: 30 });
  }

  deliver(frame: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  drop(code = 1006): void {
    this.readyState = 3;
    this.onclose?.({ code, reason: "" });
  }

  subscribes(): Record<string, unknown>[] {
    return this.sent.filter((message) => message.type === "subscribe");
  }
}

export class FakeEventSource implements EventSourceLike {
  onopen: EventSourceLike["onopen"] = null;
  onmessage: EventSourceLike["onmessage"] = null;
  onerror: EventSourceLike["onerror"] = null;
  closed = false;
  private readonly listeners = new Map<string, (event: { data: string }) => void>();

  constructor(readonly url: string) {}

  addEventListener(type: string, listener: (event: { data: string }) => void): void {
    this.listeners.set(type, listener);
  }

  close(): void {
    this.closed = true;
  }

  open(): void {
    this.onopen?.({});
  }

  deliver(frame: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  fail(): void {
    this.onerror?.({});
  }

  closeWith(code: number): void {
    this.listeners.get("close")?.({ data: JSON.stringify({ type: "close", code, reason: "" }) });
  }
}

interface Timer {
  at: number;
  callback: () => void;
}

export class FakeBrowser implements Environment {
  time = 0;
  sockets: FakeSocket[] = [];
  streams: FakeEventSource[] = [];
  fetches: string[] = [];
  pollAnswer: (url: string) => Response = () => new Response("{}", { status: 503 });
  private timers = new Map<number, Timer>();
  private nextTimer = 1;

  openSocket(url: string, protocols: string[]): FakeSocket {
    const socket = new FakeSocket(url, protocols);
    this.sockets.push(socket);
    return socket;
  }

  openEventSource(url: string): FakeEventSource {
    const stream = new FakeEventSource(url);
    this.streams.push(stream);
    return stream;
  }

  async fetch(url: string): Promise<Response> {
    this.fetches.push(url);
    return this.pollAnswer(url);
  }

  setTimeout(callback: () => void, ms: number): number {
    const id = this.nextTimer++;
    this.timers.set(id, { at: this.time + ms, callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  now(): number {
    return this.time;
  }

  random(): number {
    return 0.5; // no jitter: the schedule's own steps
  }

  /** Move the clock on by `ms`, running each timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      const due = [...this.timers.entries()]
        .filter(([, timer]) => timer.at <= end)
        .sort((a, b) => a[1].at - b[1].at)[0];
      if (due === undefined) break;
      this.timers.delete(due[0]);
      this.time = due[1].at;
      due[1].callback();
    }
    this.time = end;
  }

  /** The wait until the next timer, in ms (Infinity when none). */
  nextTimerIn(): number {
    const times = [...this.timers.values()].map((timer) => timer.at - this.time);
    return times.length ? Math.min(...times) : Infinity;
  }

  lastSocket(): FakeSocket {
    return this.sockets[this.sockets.length - 1];
  }
}

export class FakeCredentials implements Credentials {
  current: string | null = "token-1";
  refreshes = 0;
  refreshWorks = true;
  authAway = false;
  expires: number | null = null;

  token(): string | null {
    return this.current;
  }

  expiresAtMs(): number | null {
    return this.expires;
  }

  async refresh(): Promise<boolean> {
    this.refreshes += 1;
    if (this.authAway) throw new Error("503: the auth service is away");
    if (!this.refreshWorks) return false;
    this.current = `token-${this.refreshes + 1}`;
    return true;
  }
}

/** Let pending promise callbacks (a refresh, a fetch) run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}
