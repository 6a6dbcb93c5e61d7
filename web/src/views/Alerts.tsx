// The alerts page: active alerts (raised or acknowledged: by whom, when, the note) and
// the recently resolved, both live from the `alerts` channel; for operators, acknowledge
// (with a note) and silence (from an alert, or any matcher) through `/api/alerts/*`,
// and confirm what a rule's alert proposes (`ProposalAction`); the silences in force,
// each expirable by an operator; the alert rules, added and deleted by operators
// (`RuleTable`).

import { useCallback, useEffect, useState } from "react";
import { hasRole, useApp } from "../app-context";
import { AckDialog, SilenceDialog } from "../components/AlertDialogs";
import { EmptyRow } from "../components/Empty";
import { ProposalAction } from "../components/ProposalAction";
import { RefusalNote } from "../components/RefusalNote";
import { RuleTable } from "../components/RuleTable";
import { clock, moment } from "../format";
import { useLive } from "../live";
import type { Session } from "../session";
import { type Silence, type SilenceMatcher, describeMatcher, matcherFor, silencing } from "../silences";
import { type Acknowledgement, type AlertView, phase } from "../stores";

const SILENCES_EVERY_MS = 30_000; // others' silences, and those ended, within this
const OPERATORS_ONLY = "Acknowledging and silencing need the operator role";
const ANY_ALERT: SilenceMatcher = { alert_ids: "*", hosts: "*", sources: [], labels: {} };

/** The silences in force (`GET /api/alerts/silences`), again every 30 s and on `reload`. */
function useSilences(session: Session): { silences: Silence[]; refused: string | null; reload: () => void } {
  const [silences, setSilences] = useState<Silence[]>([]);
  const [refused, setRefused] = useState<string | null>(null);
  const reload = useCallback(() => {
    session
      .api<{ silences: Silence[] }>("/api/alerts/silences")
      .then((answer) => {
        setSilences(answer.silences);
        setRefused(null);
      })
      .catch((exc: Error) => setRefused(`The silences could not be read: ${exc.message}`));
  }, [session]);
  useEffect(() => {
    reload();
    const timer = window.setInterval(reload, SILENCES_EVERY_MS);
    return () => window.clearInterval(timer);
  }, [reload]);
  return { silences, refused, reload };
}

export function Alerts() {
  const { alerts, me, session } = useApp();
  useLive(alerts);
  const operator = hasRole(me, "operator");
  const { silences, refused, reload } = useSilences(session);
  const [acking, setAcking] = useState<AlertView | null>(null);
  const [silencingWith, setSilencingWith] = useState<SilenceMatcher | null>(null);
  const active = alerts.active();
  const recent = alerts.recent();
  const now = Date.now();
  return (
    <div>
      <RefusalNote channels={alerts.channels} />
      {!operator && (
        <p className="muted" data-testid="alerts-viewer-note">
          {OPERATORS_ONLY}; you are signed in as a viewer.
        </p>
      )}
      <h2>Active ({active.length})</h2>
      <table className="plain" data-testid="alerts-active">
        <thead>
          <tr>
            <th>state</th><th>source</th><th>host</th><th>metric</th><th>value</th><th>threshold</th><th>raised</th>
            <th>message</th><th>acknowledged</th><th />
          </tr>
        </thead>
        <tbody>
          {active.length === 0 && <EmptyRow columns={10} what="No active alert: every threshold is met." />}
          {active.map((alert) => {
            const quiet = silencing(silences, alert, now)[0];
            return (
              <tr key={alert.id} data-testid="alert-row" data-id={alert.id} data-phase={phase(alert)}>
                <td><span className={`badge ${phase(alert)}`}>{phase(alert)}</span></td>
                <td>{alert.source}</td><td>{alert.cluster || alert.host}</td><td>{alert.metric}</td>
                <td>{alert.value.toFixed(1)}</td><td>{alert.threshold.toFixed(1)}</td>
                <td>{clock(alert.raisedAt)}</td><td>{alert.message}</td>
                <td data-testid="alert-ack"><Acknowledged ack={alert.acknowledged} /></td>
                <td>
                  <div className="row-actions">
                    {!alert.acknowledged && (
                      <button
                        data-testid="alert-ack-button"
                        disabled={!operator}
                        title={operator ? "Acknowledge, with a note" : OPERATORS_ONLY}
                        onClick={() => setAcking(alert)}
                      >
                        Acknowledge
                      </button>
                    )}
                    <button
                      data-testid="alert-silence-button"
                      disabled={!operator}
                      title={operator ? "Silence this alert's notifications" : OPERATORS_ONLY}
                      onClick={() => setSilencingWith(matcherFor(alert))}
                    >
                      Silence
                    </button>
                    {quiet && (
                      <span className="muted" data-testid="alert-silenced">
                        silenced until {moment(quiet.ends)}
                      </span>
                    )}
                    {alert.proposal && (
                      <ProposalAction
                        session={session}
                        alertId={alert.id}
                        proposal={alert.proposal}
                        canConfirm={operator && alert.state === "raised"}
                      />
                    )}
                  </div>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>

      <h2>Recent</h2>
      <table className="plain" data-testid="alerts-recent">
        <thead>
          <tr>
            <th>state</th><th>source</th><th>host</th><th>metric</th><th>raised</th><th>resolved</th><th>message</th>
            <th>acknowledged</th>
          </tr>
        </thead>
        <tbody>
          {recent.length === 0 && (
            <EmptyRow
              columns={8}
              what="No alert in the recent window resolved: the collectors and the rules raise one when a threshold is crossed, and it moves here when it clears."
            />
          )}
          {recent.map((alert) => (
            <tr key={alert.id} data-testid="alert-row" data-id={alert.id} data-phase="resolved">
              <td><span className="badge resolved">resolved</span></td>
              <td>{alert.source}</td><td>{alert.cluster || alert.host}</td><td>{alert.metric}</td>
              <td>{clock(alert.raisedAt)}</td><td>{clock(alert.time)}</td><td>{alert.message}</td>
              <td><Acknowledged ack={alert.acknowledged} /></td>
            </tr>
          ))}
        </tbody>
      </table>

      <h2>Silences ({silences.length})</h2>
      {refused && <p className="refusal" role="status" data-testid="silences-refusal">{refused}</p>}
      {operator && (
        <div className="toolbar">
          <button data-testid="silence-new" onClick={() => setSilencingWith(ANY_ALERT)}>New silence</button>
        </div>
      )}
      <SilenceTable silences={silences} operator={operator} onExpired={reload} />

      <RuleTable operator={operator} />

      {acking && <AckDialog session={session} alert={acking} onClose={() => setAcking(null)} />}
      {silencingWith && (
        <SilenceDialog session={session} matcher={silencingWith} onClose={() => setSilencingWith(null)} onSilenced={reload} />
      )}
    </div>
  );
}

function Acknowledged({ ack }: { ack: Acknowledgement | undefined }) {
  if (!ack) return <span className="muted">—</span>;
  return (
    <span>
      by <strong>{ack.by}</strong> at {clock(ack.time)}
      {ack.note && <span className="muted">: {ack.note}</span>}
    </span>
  );
}

/** The silences in force; an operator's Expire is `DELETE /api/alerts/silences/{id}`. */
function SilenceTable({ silences, operator, onExpired }: { silences: Silence[]; operator: boolean; onExpired: () => void }) {
  const { session } = useApp();
  const [refused, setRefused] = useState<string | null>(null);
  const expire = async (silence: Silence) => {
    setRefused(null);
    try {
      await session.api(`/api/alerts/silences/${encodeURIComponent(silence.id)}`, { method: "DELETE" });
      onExpired();
    } catch (exc) {
      setRefused(`Expiring the silence of ${describeMatcher(silence.matcher)}: ${(exc as Error).message}`);
    }
  };
  return (
    <>
      {refused && <p className="error" role="alert" data-testid="silence-refusal">{refused}</p>}
      <table className="plain" data-testid="silences">
        <thead>
          <tr><th>matches</th><th>by</th><th>from</th><th>until</th><th>comment</th><th /></tr>
        </thead>
        <tbody>
          {silences.length === 0 && (
            <EmptyRow columns={6} what="No silence in force: every alert is notified." />
          )}
          {silences.map((silence) => (
            <tr key={silence.id} data-testid="silence-row" data-id={silence.id}>
              <td>
                {describeMatcher(silence.matcher)}
                {silence.maintenance && <span className="badge">maintenance</span>}
              </td>
              <td>{silence.created_by}</td><td>{moment(silence.starts)}</td><td>{moment(silence.ends)}</td>
              <td>{silence.comment}</td>
              <td>
                {operator && (
                  <button className="danger" data-testid="silence-expire" onClick={() => void expire(silence)}>
                    Expire
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
