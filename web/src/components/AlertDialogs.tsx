// The operator's dialogs on the alerts page: acknowledge an alert (with an optional
// note) and silence alerts (a matcher, prefilled from an alert, for a duration). Each
// is one call to the gateway; a refusal is said in the dialog, which stays open. The
// dialog's frame, call and ending serve the rules' dialog too (`RuleDialog`).

import { type FormEvent, type ReactNode, useState } from "react";
import { DURATIONS, type Silence, type SilenceMatcher, draftFor, parseDuration } from "../silences";
import type { Session } from "../session";
import type { Alert } from "../stores";

export function Dialog({ label, testId, children }: { label: string; testId: string; children: ReactNode }) {
  return (
    <div className="overlay">
      <div className="dialog" role="dialog" aria-label={label} data-testid={testId}>
        {children}
      </div>
    </div>
  );
}

/** Calls `act`; while it runs, `busy`; a refusal kept as text for the dialog. */
export function useCall(): [boolean, string | null, (act: () => Promise<void>) => Promise<void>] {
  const [busy, setBusy] = useState(false);
  const [refused, setRefused] = useState<string | null>(null);
  const call = async (act: () => Promise<void>) => {
    setBusy(true);
    setRefused(null);
    try {
      await act();
    } catch (exc) {
      setRefused((exc as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return [busy, refused, call];
}

/** A dialog's refusal, if any, and its buttons: `verb` (as `Verb…` while it runs) and Cancel. */
export function Ending({
  refused,
  busy,
  verb,
  blocked = false,
  onCancel,
}: {
  refused: string | null;
  busy: boolean;
  verb: string;
  blocked?: boolean;
  onCancel: () => void;
}) {
  return (
    <>
      {refused !== null && (
        <p className="error" role="alert" data-testid="dialog-refusal">
          {refused}
        </p>
      )}
      <div className="actions">
        <button type="submit" className="primary" disabled={busy || blocked}>
          {busy ? `${verb}…` : verb}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </>
  );
}

/** `POST /api/alerts/ack`; the row changes when the transition comes on the channel. */
export function AckDialog({ session, alert, onClose }: { session: Session; alert: Alert; onClose: () => void }) {
  const [note, setNote] = useState("");
  const [busy, refused, call] = useCall();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    void call(async () => {
      await session.api("/api/alerts/ack", { method: "POST", body: JSON.stringify({ alert_id: alert.id, note }) });
      onClose();
    });
  };
  return (
    <Dialog label="acknowledge" testId="ack-dialog">
      <form className="dialog-form" onSubmit={submit}>
        <h3>Acknowledge</h3>
        <p>{alert.message}</p>
        <label>
          Note (optional)
          <textarea name="note" rows={3} maxLength={1000} value={note} onChange={(e) => setNote(e.target.value)} autoFocus />
        </label>
        <Ending refused={refused} busy={busy} verb="Acknowledge" onCancel={onClose} />
      </form>
    </Dialog>
  );
}

const CUSTOM = "custom";

/** `POST /api/alerts/silences`: the matcher as prefilled (editable), from now on. */
export function SilenceDialog({
  session,
  matcher,
  onClose,
  onSilenced,
}: {
  session: Session;
  matcher: SilenceMatcher;
  onClose: () => void;
  onSilenced: (silence: Silence) => void;
}) {
  const [alertIds, setAlertIds] = useState(matcher.alert_ids);
  const [hosts, setHosts] = useState(matcher.hosts);
  const [choice, setChoice] = useState(String(DURATIONS[0].seconds));
  const [custom, setCustom] = useState("");
  const [comment, setComment] = useState("");
  const [busy, refused, call] = useCall();
  const seconds = choice === CUSTOM ? parseDuration(custom) : Number(choice);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (seconds === null) return;
    const draft = draftFor({ ...matcher, alert_ids: alertIds.trim(), hosts: hosts.trim() }, seconds, comment);
    void call(async () => {
      onSilenced(await session.api<Silence>("/api/alerts/silences", { method: "POST", body: JSON.stringify(draft) }));
      onClose();
    });
  };
  return (
    <Dialog label="silence" testId="silence-dialog">
      <form className="dialog-form" onSubmit={submit}>
        <h3>Silence</h3>
        <p className="muted">Matching alerts still show here; they are not notified until the silence ends.</p>
        <label>
          Alert ids (glob: * and ?)
          <input name="alert_ids" value={alertIds} onChange={(e) => setAlertIds(e.target.value)} required />
        </label>
        <label>
          Hosts or clusters (glob)
          <input name="hosts" value={hosts} onChange={(e) => setHosts(e.target.value)} required />
        </label>
        <label>
          For
          <select name="duration" value={choice} onChange={(e) => setChoice(e.target.value)}>
            {DURATIONS.map((d) => (
              <option key={d.seconds} value={String(d.seconds)}>
                {d.label}
              </option>
            ))}
            <option value={CUSTOM}>custom…</option>
          </select>
        </label>
        {choice === CUSTOM && (
          <label>
            Duration (90m, 2h, 3d, 1d 12h)
            <input name="custom" value={custom} onChange={(e) => setCustom(e.target.value)} autoFocus />
            {custom !== "" && seconds === null && <span className="error">not a duration: minutes (m), hours (h) or days (d)</span>}
          </label>
        )}
        <label>
          Comment
          <input name="comment" maxLength={1000} value={comment} onChange={(e) => setComment(e.target.value)} />
        </label>
        <Ending refused={refused} busy={busy} verb="Silence" blocked={seconds === null} onCancel={onClose} />
      </form>
    </Dialog>
  );
}
