// The alert rules in words (`GET /api/alerts/rules`, read by every role, again every
// 30 s): what each watches, when it raises, how it behaves, what its alerts propose.
// Operators add one (`RuleDialog`) and delete one (`DELETE /api/alerts/rules/{id}`,
// which resolves the alerts it raised).

import { useCallback, useEffect, useState } from "react";
import { useApp } from "../app-context";
import { type Rule, describeCondition, describeTarget } from "../rules";
import { EmptyRow } from "./Empty";
import { RuleDialog } from "./RuleDialog";

const RULES_EVERY_MS = 30_000;

export function RuleTable({ operator }: { operator: boolean }) {
  const { session } = useApp();
  const [rules, setRules] = useState<Rule[]>([]);
  const [refused, setRefused] = useState<string | null>(null);
  const [adding, setAdding] = useState(false);
  const reload = useCallback(() => {
    session
      .api<{ rules: Rule[] }>("/api/alerts/rules")
      .then((answer) => {
        setRules(answer.rules);
        setRefused(null);
      })
      .catch((exc: Error) => setRefused(`The rules could not be read: ${exc.message}`));
  }, [session]);
  useEffect(() => {
    reload();
    const timer = window.setInterval(reload, RULES_EVERY_MS);
    return () => window.clearInterval(timer);
  }, [reload]);
  const remove = async (rule: Rule) => {
    setRefused(null);
    try {
      await session.api(`/api/alerts/rules/${encodeURIComponent(rule.id)}`, { method: "DELETE" });
      reload();
    } catch (exc) {
      setRefused(`Deleting the rule ${rule.name}: ${(exc as Error).message}`);
    }
  };
  return (
    <>
      <h2>Rules ({rules.length})</h2>
      {refused && <p className="refusal" role="status" data-testid="rules-refusal">{refused}</p>}
      {operator && (
        <div className="toolbar">
          <button data-testid="rule-new" onClick={() => setAdding(true)}>New rule</button>
        </div>
      )}
      <table className="plain" data-testid="rules">
        <thead>
          <tr>
            <th>name</th><th>of</th><th>when</th><th>severity</th><th>hold / recovery</th><th>proposes</th><th>by</th><th />
          </tr>
        </thead>
        <tbody>
          {rules.length === 0 && <EmptyRow columns={8} what="No rule: only the built-in alerts are raised." />}
          {rules.map((rule) => (
            <tr key={rule.id} data-testid="rule-row" data-id={rule.id} className={rule.enabled ? "" : "muted"}>
              <td>{rule.name}</td>
              <td>{describeTarget(rule.target)}</td>
              <td>{describeCondition(rule.condition)}</td>
              <td><span className={`badge ${rule.severity}`}>{rule.severity}</span></td>
              <td>{rule.hold_s} s / {rule.recovery_s} s</td>
              <td>{rule.propose ? rule.propose.action + (rule.propose.replicas !== undefined ? ` to ${rule.propose.replicas}` : "") : "—"}</td>
              <td>{rule.created_by}</td>
              <td>
                {operator && (
                  <button className="danger" data-testid="rule-delete" onClick={() => void remove(rule)}>
                    Delete
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {adding && <RuleDialog session={session} onClose={() => setAdding(false)} onCreated={reload} />}
    </>
  );
}
