// What the stream manager needs from the browser, passed in so unit tests can drive
// sockets, event streams, fetches and time by hand.

export interface SocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export interface EventSourceLike {
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: string; lastEventId?: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  addEventListener(type: string, listener: (event: { data: string }) => void): void;
  close(): void;
}

export interface Environment {
  openSocket(url: string, protocols: string[]): SocketLike;
  openEventSource(url: string): EventSourceLike;
  fetch(url: string, init: RequestInit): Promise<Response>;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
  random(): number;
}

/** The real browser. */
export function browserEnvironment(): Environment {
  return {
    openSocket: (url, protocols) => new WebSocket(url, protocols) as unknown as SocketLike,
    openEventSource: (url) => new EventSource(url) as unknown as EventSourceLike,
    fetch: (url, init) => fetch(url, init),
    setTimeout: (callback, ms) => window.setTimeout(callback, ms),
    clearTimeout: (handle) => window.clearTimeout(handle as number),
    now: () => Date.now(),
    random: () => Math.random(),
  };
}

/** Who the manager is: the access token to present, and how to get a fresh one. */
export interface Credentials {
  token(): string | null;
  /** When the access token expires (ms since the epoch), if known. */
  expiresAtMs(): number | null;
  /** A new access token: false when it was refused and the user must log in; throws
   * when it could not be asked (the gateway or auth service away). */
  refresh(): Promise<boolean>;
}
