// The deploy form (operators) and the history of deploys.
// Deploy secrets are write-only: environment values and secret arguments are sent once,
// and every record the gateway gives back shows "***" in their place.

import { type FormEvent, useEffect, useState } from "react";
import { hasRole, useApp } from "../app-context";
import { EmptyRow } from "../components/Empty";
import { quote } from "shlex";
import { commandArgv } from "../command";
import { clock } from "../format";

/** A command argument: plain, or secret (`{"secret": "***"}` when shown back). */
export type Argument = string | { secret: string };

export interface DeployRecord {
  id: string;
  spec: {
    name: string;
    image: string;
    host: string | null;
    strategy: string;
    confirm: boolean;
    target?: string;
    cluster?: string | null;
    command?: Argument[] | null;
    env?: Record<string, string>;
  };
  requested_by: { name: string };
  created_at: string;
  updated_at: string;
  state: string;
  step: string;
  reason: string | null;
  /** The deploy this one rolls back (an alert's proposed rollback). */
  rollback_of?: string | null;
}

export function Deploys() {
  const { me, session } = useApp();
  const [deploys, setDeploys] = useState<DeployRecord[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let stopped = false;
    const load = () =>
      session
        .api<{ deploys: DeployRecord[] }>("/api/deploys?limit=50")
        .then((list) => {
          if (stopped) return;
          setDeploys(list.deploys);
          setError(null); // answered again: the last failure is over
        })
        .catch((exc: Error) => !stopped && setError(exc.message));
    void load();
    const timer = window.setInterval(load, 5000);
    return () => {
      stopped = true;
      window.clearInterval(timer);
    };
  }, [session]);

  return (
    <div>
      {hasRole(me, "operator") && <DeployForm />}
      <h2>History</h2>
      {error && <p className="error">{error}</p>}
      <table className="plain" data-testid="deploy-history">
        <thead>
          <tr>
            <th>service</th><th>image</th><th>host</th><th>state</th><th>step</th><th>by</th><th>started</th>
          </tr>
        </thead>
        <tbody>
          {deploys?.length === 0 && (
            <EmptyRow columns={7} what="No deploys yet." testId="empty-deploys">
              {hasRole(me, "operator")
                ? "Deploy a service with the form above, or with `vigil deploy`."
                : "Deploys that operators start appear here (those of the clusters you may see)."}
            </EmptyRow>
          )}
          {deploys === null && (
            <EmptyRow columns={7} what={error ? "The history could not be read (above)." : "Loading…"}>
              {error && "It is asked again every 5 s."}
            </EmptyRow>
          )}
          {(deploys ?? []).map((d) => (
            <tr key={d.id}>
              <td><a href={`#/deploys/${d.id}`}>{d.spec.name}</a></td>
              <td>
                {d.spec.image}
                {d.rollback_of && (
                  <span className="muted" data-testid="rollback-of">
                    {" "}· rolls back <a href={`#/deploys/${d.rollback_of}`}>{d.rollback_of}</a>
                  </span>
                )}
              </td>
              <td>{d.spec.host}</td>
              <td><span className={`badge ${d.state}`}>{d.state}</span></td>
              <td>{d.step}</td>
              <td>{d.requested_by.name}</td>
              <td>{clock(d.created_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function DeployForm() {
  const { session } = useApp();
  const [hosts, setHosts] = useState<string[]>([]);
  const [fields, setFields] = useState({
    name: "", image: "", host: "", command: "", secretArgs: "", env: "", strategy: "recreate", confirm: true, extra: "",
  });
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    session.api<{ hosts: string[] }>("/api/deploys/hosts").then((h) => setHosts(h.hosts), () => setHosts([]));
  }, [session]);

  const parsed = commandArgv(fields.command);
  const set = (name: keyof typeof fields) => (e: { target: { value: string; checked?: boolean; type?: string } }) =>
    setFields({ ...fields, [name]: e.target.type === "checkbox" ? e.target.checked : e.target.value });

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      if (parsed.error !== null) throw new Error(parsed.error);
      const extra = fields.extra.trim() ? (JSON.parse(fields.extra) as Record<string, unknown>) : {};
      const command: Argument[] = [
        ...parsed.argv,
        ...lines(fields.secretArgs).map((secret) => ({ secret })),
      ];
      const env = envOf(fields.env);
      const spec: Record<string, unknown> = {
        name: fields.name,
        image: fields.image,
        strategy: fields.strategy,
        confirm: fields.confirm,
        ...(fields.host ? { host: fields.host } : {}),
        ...(command.length ? { command } : {}),
        ...(Object.keys(env).length ? { env } : {}),
        ...extra,
      };
      const record = await session.api<DeployRecord>("/api/deploys", { method: "POST", body: JSON.stringify(spec) });
      window.location.hash = `#/deploys/${record.id}`;
    } catch (exc) {
      setError(exc instanceof Error ? exc.message : String(exc));
    }
  };

  return (
    <form className="card deploy-form" onSubmit={submit} data-testid="deploy-form">
      <h2>Deploy</h2>
      <label>service name<input name="name" required value={fields.name} onChange={set("name")} /></label>
      <label>image<input name="image" required value={fields.image} onChange={set("image")} /></label>
      <label>
        host
        <select name="host" value={fields.host} onChange={set("host")}>
          <option value="">{hosts.length === 1 ? hosts[0] : "the only host"}</option>
          {hosts.map((h) => <option key={h}>{h}</option>)}
        </select>
      </label>
      <label>
        command (split as a shell would: quote what holds spaces)
        <input name="command" placeholder="as in the image" value={fields.command} onChange={set("command")} spellCheck={false} />
        <span className="argv" data-testid="command-argv">
          {parsed.error !== null ? (
            <span className="error">{parsed.error}</span>
          ) : parsed.argv.length === 0 ? (
            <span className="muted">the image's own command</span>
          ) : (
            <>
              <span className="muted">argv: </span>
              {parsed.argv.map((arg, i) => (
                <code key={i} className="arg" data-testid="command-arg">
                  {arg}
                </code>
              ))}
            </>
          )}
        </span>
      </label>
      <label>
        secret arguments (one a line, after the command; never shown back)
        <textarea name="secret_args" className="secret" rows={2} value={fields.secretArgs} onChange={set("secretArgs")} autoComplete="off" spellCheck={false} />
      </label>
      <label>
        environment (NAME=VALUE a line; values are secret, never shown back)
        <textarea name="env" className="secret" rows={2} value={fields.env} onChange={set("env")} autoComplete="off" spellCheck={false} />
      </label>
      <label>
        strategy
        <select name="strategy" value={fields.strategy} onChange={set("strategy")}>
          <option value="recreate">recreate</option>
          <option value="start-first">start-first</option>
        </select>
      </label>
      <label className="check"><input type="checkbox" name="confirm" checked={fields.confirm} onChange={set("confirm")} />ask me before the switch</label>
      <label>
        more of the spec (JSON: ports, env, health, labels…)
        <textarea name="extra" rows={3} value={fields.extra} onChange={set("extra")} placeholder='{"ports":[{"container_port":8080}],"health":{"kind":"tcp","port":8080}}' />
      </label>
      {error && <p className="error">{error}</p>}
      <button className="primary" type="submit" disabled={parsed.error !== null}>
        Deploy
      </button>
    </form>
  );
}

function lines(text: string): string[] {
  return text.split("\n").filter((line) => line !== "");
}

/** NAME=VALUE lines; a line without "=" is refused, naming it. */
export function envOf(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of lines(text)) {
    const at = line.indexOf("=");
    if (at < 1) throw new Error(`environment: use NAME=VALUE (not ${JSON.stringify(line.slice(0, 40))})`);
    env[line.slice(0, at)] = line.slice(at + 1);
  }
  return env;
}

/** How an argument is shown: quoted as a shell would need it (so the line reads back
 * as the same argv), a secret one as its mask, never a value. */
export function shownArgument(argument: Argument): string {
  return typeof argument === "string" ? quote(argument) : `secret(${argument.secret})`;
}
