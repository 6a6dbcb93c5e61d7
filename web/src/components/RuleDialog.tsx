// An operator's new alert rule: its target (hosts, containers, pods or gateway replicas,
// by glob, label, namespace or workload), its condition (a metric against a threshold,
// a status event, silence, a log pattern), severity, hold and recovery, and what its
// alerts propose. One `POST /api/alerts/rules`; a refusal (the alerter's words) is said
// in the dialog, which stays open.

import { type FormEvent, type ReactNode, useState } from "react";
import {
  type ConditionKind,
  EVENTS_OF,
  METRICS_OF,
  PROPOSALS_OF,
  type Rule,
  type RuleForm,
  type TargetKind,
  conditionsOf,
  draftOf,
  emptyForm,
} from "../rules";
import type { Session } from "../session";
import { Dialog, Ending, useCall } from "./AlertDialogs";

const WHERE: Record<TargetKind, string> = {
  host: "Hosts (glob)",
  container: "On hosts (glob)",
  pod: "On clusters (glob)",
  gateway: "Gateway replicas (glob)",
};

function Field({ label, children }: { label: string; children: ReactNode }) {
  return (
    <label>
      {label}
      {children}
    </label>
  );
}

export function RuleDialog({ session, onClose, onCreated }: { session: Session; onClose: () => void; onCreated: (rule: Rule) => void }) {
  const [form, setForm] = useState<RuleForm>(emptyForm());
  const [busy, refused, call] = useCall();
  const set = (changes: Partial<RuleForm>) => setForm({ ...form, ...changes });
  const text = (key: keyof RuleForm, label: string, extra: Record<string, unknown> = {}) => (
    <Field label={label}>
      <input name={key} value={form[key] as string} onChange={(e) => set({ [key]: e.target.value })} {...extra} />
    </Field>
  );
  const retarget = (kind: TargetKind) =>
    set({ ...emptyForm(kind), name: form.name, severity: form.severity, holdS: form.holdS, recoveryS: form.recoveryS });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    void call(async () => {
      onCreated(await session.api<Rule>("/api/alerts/rules", { method: "POST", body: JSON.stringify(draftOf(form)) }));
      onClose();
    });
  };
  const kind = form.targetKind;
  return (
    <Dialog label="new rule" testId="rule-dialog">
      <form className="dialog-form" onSubmit={submit}>
        <h3>New rule</h3>
        {text("name", "Name", { required: true, maxLength: 100, autoFocus: true })}
        <Field label="Of">
          <select name="target" value={kind} onChange={(e) => retarget(e.target.value as TargetKind)}>
            <option value="host">hosts</option>
            <option value="container">containers</option>
            <option value="pod">pods</option>
            <option value="gateway">gateway replicas</option>
          </select>
        </Field>
        {text("where", WHERE[kind], { required: true })}
        {kind === "container" && text("nameGlob", "Named (glob, optional)")}
        {kind === "container" && text("label", "Labelled (key or key=value, optional)")}
        {kind === "pod" && text("nameGlob", "In namespace (glob, optional)")}
        {kind === "pod" && text("label", "Of workload (Kind/name or a glob, optional)")}
        <Field label="When">
          <select name="condition" value={form.conditionKind} onChange={(e) => set({ conditionKind: e.target.value as ConditionKind })}>
            {conditionsOf(kind).map((c) => (
              <option key={c} value={c}>{c}</option>
            ))}
          </select>
        </Field>
        {form.conditionKind === "metric" && (
          <>
            <Field label="Metric">
              <select name="metric" value={form.metric} onChange={(e) => set({ metric: e.target.value })}>
                {METRICS_OF[kind].map((m) => (
                  <option key={m}>{m}</option>
                ))}
              </select>
            </Field>
            <Field label="Is">
              <select name="below" value={form.below ? "below" : "above"} onChange={(e) => set({ below: e.target.value === "below" })}>
                <option value="above">above</option>
                <option value="below">below</option>
              </select>
            </Field>
            {text("threshold", "Threshold", { inputMode: "decimal", required: true })}
          </>
        )}
        {form.conditionKind === "status" && (
          <Field label="Event">
            <select name="event" value={form.event} onChange={(e) => set({ event: e.target.value })}>
              {EVENTS_OF[kind].map((event) => (
                <option key={event}>{event}</option>
              ))}
            </select>
          </Field>
        )}
        {form.conditionKind === "status" && form.event === "restart_loop" && text("restarts", "Restarts")}
        {form.conditionKind === "log" && text("pattern", "Log pattern (RE2)", { required: true, maxLength: 200 })}
        {form.conditionKind === "log" && text("count", "Times")}
        {(form.conditionKind === "log" || (form.conditionKind === "status" && form.event === "restart_loop")) &&
          text("windowS", "Within (s)")}
        {form.conditionKind === "stale" && text("afterS", "Silent for (s)")}
        <Field label="Severity">
          <select name="severity" value={form.severity} onChange={(e) => set({ severity: e.target.value })}>
            <option>info</option>
            <option>warning</option>
            <option>critical</option>
          </select>
        </Field>
        {text("holdS", "Held for (s) before it is raised")}
        {text("recoveryS", "Clear for (s) before it is resolved")}
        {PROPOSALS_OF[kind].length > 0 && form.conditionKind !== "stale" && (
          <Field label="Proposes">
            <select name="propose" value={form.propose} onChange={(e) => set({ propose: e.target.value })}>
              <option value="">nothing</option>
              {PROPOSALS_OF[kind].map((action) => (
                <option key={action}>{action}</option>
              ))}
            </select>
          </Field>
        )}
        {form.propose === "scale" && text("replicas", "To replicas")}
        <Ending refused={refused} busy={busy} verb="Create" onCancel={onClose} />
      </form>
    </Dialog>
  );
}
