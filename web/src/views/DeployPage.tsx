// One deploy, live from its journal: the steps, per-layer pull progress, the end.
// The confirmation question itself comes on the socket (see AskDialog).

import { useEffect, useMemo, useState } from "react";
import { hasRole, useApp } from "../app-context";
import { Empty, EmptyRow } from "../components/Empty";
import { RefusalNote } from "../components/RefusalNote";
import { clock } from "../format";
import { layerLine, type PullProgress, pullLine } from "../pull";
import { channelKey } from "../stream/protocol";
import { type DeployRecord, shownArgument } from "./Deploys";

interface DeployEvent {
  deploy_id: string;
  step: string;
  status: string;
  state: string;
  message: string;
  progress?: PullProgress | null;
  percent?: number | null;
  time: string;
}

export function DeployPage({ id }: { id: string }) {
  const { manager, me, session } = useApp();
  const [events, setEvents] = useState<DeployEvent[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [record, setRecord] = useState<DeployRecord | null>(null);

  useEffect(() => {
    setRecord(null);
    session.api<DeployRecord>(`/api/deploys/${id}`).then(setRecord, () => setRecord(null));
  }, [session, id]);

  useEffect(() => {
    setEvents([]);
    return manager.subscribe("deploy", { id }, (event) => {
      if (event.type === "update") setEvents((list) => [...list, event.data as unknown as DeployEvent]);
      else if (event.type === "error") setError(`${event.code}: ${event.message}`);
    });
  }, [manager, id]);

  // Each step's latest event, in the order the journal took them (a recreate that asks
  // first has confirm before start; a Map keeps each key where it first came).
  const steps = useMemo(() => {
    const latest = new Map<string, DeployEvent>();
    for (const event of events) latest.set(event.step, event);
    return [...latest.values()];
  }, [events]);
  const pull = [...events].reverse().find((event) => event.progress)?.progress;
  const last = events[events.length - 1];
  const finished = last && ["succeeded", "failed", "cancelled"].includes(last.state);

  const cancel = () =>
    session.api(`/api/deploys/${id}/cancel`, { method: "POST" }).catch((exc: Error) => setError(exc.message));

  return (
    <div>
      <h2>
        Deploy <code>{id}</code>{" "}
        {last && <span className={`badge ${last.state}`} data-testid="deploy-state">{last.state}</span>}
      </h2>
      <RefusalNote channels={[channelKey("deploy", { id })]} />
      {error && <p className="error">{error}</p>}
      {!finished && last && hasRole(me, "operator") && <button onClick={cancel}>Cancel and roll back</button>}
      {record && <SpecCard spec={record.spec} />}
      {steps.length === 0 && !error && (
        <Empty what="No step yet." testId="empty-steps">
          Waiting for the deploy's journal: the deployer writes each step as it goes.
        </Empty>
      )}
      <ol className="steps" data-testid="deploy-steps">
        {steps.map((step) => (
          <li key={step.step} className={step.status} data-testid="deploy-step" data-step={step.step} data-status={step.status}>
            <strong>{step.step}</strong> <span className={`badge ${step.status}`}>{step.status}</span> {step.message}
          </li>
        ))}
      </ol>
      {pull && (
        <section className="card">
          <h3 data-testid="pull-line">pull: {pullLine(pull)}</h3>
          {pull.layers.map((layer) => (
            <div key={layer.id} className="bar-row" data-testid="layer">
              <code>{layer.id}</code>
              <progress max={100} value={layer.percent} />
              <span>{layer.status} {layerLine(layer)}</span>
            </div>
          ))}
        </section>
      )}
      <h3>journal</h3>
      <table className="plain">
        <tbody>
          {events.length === 0 && <EmptyRow columns={4} what="No event yet." />}
          {events.map((event, i) => (
            <tr key={i}>
              <td>{clock(event.time)}</td><td>{event.step}</td><td>{event.status}</td><td>{event.message}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

// What was deployed: the secrets' names and places, their values as the gateway masks them.
export function SpecCard({ spec }: { spec: DeployRecord["spec"] }) {
  const env = Object.entries(spec.env ?? {});
  return (
    <section className="card" data-testid="deploy-spec">
      <p>
        <code>{spec.image}</code> as <strong>{spec.name}</strong> on {spec.cluster ?? spec.host}
      </p>
      {spec.command && <p>command: <code>{spec.command.map(shownArgument).join(" ")}</code></p>}
      {env.length > 0 && (
        <p>
          environment:{" "}
          {env.map(([name, value]) => <code key={name}>{name}={value} </code>)}
        </p>
      )}
    </section>
  );
}
