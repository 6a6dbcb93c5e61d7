// Admins: users, API keys, every live connection on every gateway, and the audit trail.

import { type FormEvent, useCallback, useEffect, useState } from "react";
import { useApp } from "../app-context";
import { EmptyRow } from "../components/Empty";
import { RefusalNote } from "../components/RefusalNote";
import { clock } from "../format";

interface User { id: string; username: string; roles: string[]; disabled: boolean; created_at: string }
interface Key { id: string; name: string; role: string; created_by: string; created_at: string; last_used_at: string | null; revoked: boolean }
interface Connection { id: string; gateway_id: string; principal_name: string; address: string | null; since: string; subscriptions: string[]; sent: number; dropped: number }
interface AuditEvent {
  cursor: number;
  time: string;
  service: string;
  action: string;
  outcome: "done" | "refused" | "failed";
  actor: { kind: string; id?: string; name?: string };
  target: string;
  detail: string;
  address?: string;
}

const AUDIT_SHOWN = 100;

export function Admin() {
  const { session, manager } = useApp();
  // null until the first answer: "loading", not "none"
  const [users, setUsers] = useState<User[] | null>(null);
  const [keys, setKeys] = useState<Key[] | null>(null);
  const [connections, setConnections] = useState<Connection[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [secret, setSecret] = useState<string | null>(null);

  const fail = (exc: Error) => setError(exc.message);
  const load = useCallback(() => {
    session.api<{ users: User[] }>("/api/auth/users").then((r) => setUsers(r.users), fail);
    session.api<{ keys: Key[] }>("/api/auth/keys").then((r) => setKeys(r.keys), fail);
  }, [session]);
  const loadConnections = useCallback(() => {
    session.api<{ connections: Connection[] }>("/api/connections").then((r) => setConnections(r.connections), fail);
  }, [session]);

  useEffect(load, [load]);
  useEffect(() => {
    loadConnections();
    // Sockets opening and closing anywhere: read the list again (at most every 2 s).
    let due: number | null = null;
    const stop = manager.subscribe("connections", {}, () => {
      due ??= window.setTimeout(() => {
        due = null;
        loadConnections();
      }, 2000);
    });
    return () => {
      stop();
      if (due !== null) window.clearTimeout(due);
    };
  }, [manager, loadConnections]);

  const createUser = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const body = { username: form.get("username"), password: form.get("password"), roles: [form.get("role")] };
    await session.api("/api/auth/users", { method: "POST", body: JSON.stringify(body) }).then(load, fail);
  };
  const createKey = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const body = { name: form.get("name"), role: form.get("role") };
    await session
      .api<{ api_key: string }>("/api/auth/keys", { method: "POST", body: JSON.stringify(body) })
      .then((created) => {
        setSecret(created.api_key);
        load();
      }, fail);
  };

  return (
    <div>
      {error && <p className="error">{error}</p>}
      <h2>Users</h2>
      <table className="plain" data-testid="users">
        <thead><tr><th>user</th><th>roles</th><th>state</th><th>created</th><th /></tr></thead>
        <tbody>
          {users === null && <EmptyRow columns={5} what={error ? "The users could not be read (above)." : "Loading…"} />}
          {users?.map((u) => (
            <tr key={u.id}>
              <td>{u.username}</td><td>{u.roles.join(", ")}</td><td>{u.disabled ? "disabled" : "active"}</td><td>{clock(u.created_at)}</td>
              <td>{!u.disabled && <button onClick={() => session.api(`/api/auth/users/${u.username}/disable`, { method: "POST" }).then(load, fail)}>Disable</button>}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <form className="inline" onSubmit={createUser}>
        <input name="username" placeholder="username" required />
        <input name="password" type="password" placeholder="password (8+)" required minLength={8} />
        <RoleSelect />
        <button type="submit">Add user</button>
      </form>
      <h2>API keys</h2>
      {secret && <p className="notice">New key (shown once): <code>{secret}</code></p>}
      <table className="plain" data-testid="keys">
        <thead><tr><th>name</th><th>role</th><th>by</th><th>created</th><th>last used</th><th /></tr></thead>
        <tbody>
          {keys === null && <EmptyRow columns={6} what={error ? "The keys could not be read (above)." : "Loading…"} />}
          {keys?.length === 0 && (
            <EmptyRow columns={6} what="No API keys." testId="empty-keys">
              Scripts and the CLI use one instead of a password: create one below, or with `vigil apikey create`.
            </EmptyRow>
          )}
          {keys?.map((k) => (
            <tr key={k.id}>
              <td>{k.name}</td><td>{k.role}</td><td>{k.created_by}</td><td>{clock(k.created_at)}</td>
              <td>{k.last_used_at ? clock(k.last_used_at) : "never"}</td>
              <td>{k.revoked ? "revoked" : <button onClick={() => session.api(`/api/auth/keys/${k.id}`, { method: "DELETE" }).then(load, fail)}>Revoke</button>}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <form className="inline" onSubmit={createKey}>
        <input name="name" placeholder="key name" required />
        <RoleSelect />
        <button type="submit">Create key</button>
      </form>
      <h2>Live connections{connections ? ` (${connections.length})` : ""}</h2>
      <RefusalNote channels={["connections"]} />
      <table className="plain" data-testid="connections">
        <thead><tr><th>who</th><th>from</th><th>gateway</th><th>since</th><th>watching</th><th>sent</th><th>dropped</th></tr></thead>
        <tbody>
          {connections === null && <EmptyRow columns={7} what={error ? "The connections could not be read (above)." : "Loading…"} />}
          {connections?.length === 0 && (
            <EmptyRow columns={7} what="No live connection." testId="empty-connections">
              No gateway holds a socket now.
            </EmptyRow>
          )}
          {connections?.map((c) => (
            <tr key={c.id}>
              <td>{c.principal_name}</td><td>{c.address}</td><td><code>{c.gateway_id.slice(0, 8)}</code></td><td>{clock(c.since)}</td>
              <td>{c.subscriptions.join(", ")}</td><td>{c.sent}</td><td>{c.dropped}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <AuditTrail />
    </div>
  );
}

/** The newest events of the audit trail, then each new one as it is written (the
 * `audit` channel from the newest cursor read, so none falls between the two). */
function AuditTrail() {
  const { session, manager } = useApp();
  const [events, setEvents] = useState<AuditEvent[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let stop: (() => void) | null = null;
    let gone = false;
    session.api<{ events: AuditEvent[] }>(`/api/audit?limit=${AUDIT_SHOWN}`).then((page) => {
      if (gone) return;
      setEvents(page.events);
      const newest = page.events.reduce((most, e) => Math.max(most, e.cursor), 0);
      stop = manager.subscribe(
        "audit",
        {},
        (event) => {
          if (event.type !== "update" || typeof event.cursor !== "number") return;
          const added = { ...(event.data as unknown as AuditEvent), cursor: event.cursor };
          setEvents((shown) =>
            shown?.some((e) => e.cursor === added.cursor) ? shown : [added, ...(shown ?? [])].slice(0, AUDIT_SHOWN),
          );
        },
        { since: newest },
      );
    }, (exc: Error) => setError(exc.message));
    return () => {
      gone = true;
      stop?.();
    };
  }, [session, manager]);

  return (
    <>
      <h2>Audit trail</h2>
      {error && <p className="error">{error}</p>}
      <RefusalNote channels={["audit"]} />
      <table className="plain" data-testid="audit">
        <thead><tr><th>time</th><th>service</th><th>outcome</th><th>action</th><th>who</th><th>from</th><th>target</th><th>detail</th></tr></thead>
        <tbody>
          {events === null && <EmptyRow columns={8} what={error ? "The audit trail could not be read (above)." : "Loading…"} />}
          {events?.length === 0 && <EmptyRow columns={8} what="Nothing recorded yet." testId="empty-audit" />}
          {events?.map((e) => (
            <tr key={e.cursor} className={e.outcome === "done" ? undefined : "refused"}>
              <td>{clock(e.time)}</td><td>{e.service}</td><td>{e.outcome}</td><td>{e.action}</td>
              <td>{e.actor.name ?? e.actor.kind}</td><td>{e.address ?? ""}</td><td>{e.target}</td><td>{e.detail}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function RoleSelect() {
  return (
    <select name="role" defaultValue="viewer">
      <option>viewer</option>
      <option>operator</option>
      <option>admin</option>
    </select>
  );
}
