// The signed-in user: tokens (kept in sessionStorage, so a reload stays signed in but
// a closed tab does not), refresh, and authenticated calls to the gateway's HTTP API.

import type { Credentials } from "./stream/environment";

interface Tokens {
  access_token: string;
  refresh_token: string;
  expires_in: number;
}

export interface Principal {
  kind: "user" | "api_key";
  id: string;
  name: string;
  roles: string[];
  /** The clusters it may see (`*`: all). */
  clusters: string[];
  /** Powers beyond its roles': `exec` (shells, with the operator role). */
  permissions?: string[];
}

const STORAGE_KEY = "vigil.session";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class Session implements Credentials {
  private access: string | null = null;
  private refreshToken: string | null = null;
  private expiresAt: number | null = null;
  private refreshing: Promise<boolean> | null = null;

  constructor(private readonly base: string) {
    const saved = sessionStorage.getItem(STORAGE_KEY);
    if (saved !== null) {
      const { access, refreshToken, expiresAt } = JSON.parse(saved);
      this.access = access;
      this.refreshToken = refreshToken;
      this.expiresAt = expiresAt;
    }
  }

  get signedIn(): boolean {
    return this.access !== null;
  }

  token(): string | null {
    return this.access;
  }

  /** The WebSocket URL of a gateway path (http -> ws, https -> wss). */
  socketUrl(path: string): string {
    return this.base.replace(/^http/, "ws") + path;
  }

  expiresAtMs(): number | null {
    return this.expiresAt;
  }

  async login(username: string, password: string): Promise<void> {
    const response = await fetch(`${this.base}/api/auth/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username, password }),
    });
    if (!response.ok) throw new ApiError(response.status, await errorText(response));
    this.keep((await response.json()) as Tokens);
  }

  /** One refresh at a time: a socket and an API call that both find the token stale
   * share it (a refresh token is spent once; reusing it would end the session). */
  refresh(): Promise<boolean> {
    this.refreshing ??= this.doRefresh().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  private async doRefresh(): Promise<boolean> {
    if (this.refreshToken === null) return false;
    const response = await fetch(`${this.base}/api/auth/refresh`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refresh_token: this.refreshToken }),
    });
    if (response.status === 401 || response.status === 400 || response.status === 422) {
      this.forget(); // spent, expired or revoked: only a login helps
      return false;
    }
    if (!response.ok) throw new ApiError(response.status, await errorText(response));
    this.keep((await response.json()) as Tokens);
    return true;
  }

  async logout(): Promise<void> {
    if (this.access !== null) {
      await fetch(`${this.base}/api/auth/logout`, {
        method: "POST",
        headers: { Authorization: `Bearer ${this.access}` },
      }).catch(() => undefined);
    }
    this.forget();
  }

  /** A JSON call to the gateway; a 401 refreshes the token once and tries again. */
  async api<T>(path: string, init: RequestInit = {}): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const headers = new Headers(init.headers);
      headers.set("Authorization", `Bearer ${this.access ?? ""}`);
      if (init.body !== undefined) headers.set("content-type", "application/json");
      const response = await fetch(`${this.base}${path}`, { ...init, headers });
      if (response.status === 401 && attempt === 0 && (await this.refresh().catch(() => false))) {
        continue;
      }
      if (!response.ok) throw new ApiError(response.status, await errorText(response));
      return (response.status === 204 ? null : await response.json()) as T;
    }
  }

  private keep(tokens: Tokens): void {
    this.access = tokens.access_token;
    this.refreshToken = tokens.refresh_token;
    this.expiresAt = Date.now() + tokens.expires_in * 1000;
    sessionStorage.setItem(
      STORAGE_KEY,
      JSON.stringify({ access: this.access, refreshToken: this.refreshToken, expiresAt: this.expiresAt }),
    );
  }

  private forget(): void {
    this.access = this.refreshToken = this.expiresAt = null;
    sessionStorage.removeItem(STORAGE_KEY);
  }
}

async function errorText(response: Response): Promise<string> {
  try {
    return detailText(await response.json(), response.status);
  } catch {
    return `HTTP ${response.status}`;
  }
}

interface InvalidField {
  loc?: (string | number)[];
  msg?: string;
}

/** What an error body says: the gateway's refusal (`code: message`), or a 422's fields,
 * each as `where: what` (`matcher.hosts: Value error, a glob of…`, the `body` dropped). */
export function detailText(body: { detail?: unknown }, status: number): string {
  const detail = (body.detail ?? body) as unknown;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail) && detail.length > 0 && detail.every((e) => typeof e === "object" && e !== null && "msg" in e)) {
    return (detail as InvalidField[])
      .map(({ loc = [], msg }) => {
        const where = (loc[0] === "body" ? loc.slice(1) : loc).join(".");
        return where ? `${where}: ${msg}` : String(msg);
      })
      .join("; ");
  }
  const refusal = detail as { code?: string; message?: string };
  if (refusal.message) return `${refusal.code ?? status}: ${refusal.message}`;
  return JSON.stringify(detail);
}
