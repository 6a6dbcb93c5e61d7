// Alert rules as the alerts page shows and edits them (`/api/alerts/rules`): a rule's
// target and condition in words, and the rule an operator's form makes. The alerter
// checks every rule again (a metric its target does not carry, a proposal that does not
// fit): what the form offers follows the same tables, so few drafts are refused.

export type TargetKind = "host" | "container" | "pod" | "gateway";
export type ConditionKind = "metric" | "status" | "stale" | "log";

type Fields = Record<string, unknown>;

export interface Rule {
  id: string;
  name: string;
  target: Fields & { kind: TargetKind };
  condition: Fields & { kind: ConditionKind };
  severity: string;
  hold_s: number;
  recovery_s: number;
  cooldown_s: number;
  enabled: boolean;
  propose?: { action: string; replicas?: number } | null;
  created_by: string;
}

/** Which metrics each kind of target carries (`vigil.messages.rules.METRICS_OF`). */
export const METRICS_OF: Record<TargetKind, string[]> = {
  host: ["cpu_percent", "memory_percent", "swap_percent", "disk_percent", "load_1"],
  container: ["cpu_percent", "memory_percent", "memory_bytes", "cpu_of_limit", "memory_of_limit"],
  pod: ["cpu_millicores", "memory_bytes", "cpu_of_limit", "memory_of_limit"],
  gateway: ["sockets", "sockets_percent", "send_failures_per_s"],
};

/** Which status events each kind of target has. */
export const EVENTS_OF: Record<TargetKind, string[]> = {
  host: [],
  container: ["exited_nonzero", "oom_killed", "unhealthy", "restart_loop"],
  pod: ["exited_nonzero", "oom_killed", "restart_loop", "crash_loop"],
  gateway: [],
};

/** Which actions a rule of each kind of target may propose. */
export const PROPOSALS_OF: Record<TargetKind, string[]> = {
  host: [],
  container: ["restart", "rollback"],
  pod: ["scale"],
  gateway: [],
};

/** The conditions each kind of target may have. */
export function conditionsOf(kind: TargetKind): ConditionKind[] {
  const kinds: ConditionKind[] = ["metric"];
  if (EVENTS_OF[kind].length > 0) kinds.push("status");
  kinds.push("stale");
  if (kind === "container") kinds.push("log");
  return kinds;
}

export function describeTarget(target: Rule["target"]): string {
  const text = (key: string) => (typeof target[key] === "string" ? (target[key] as string) : undefined);
  switch (target.kind) {
    case "host":
      return `hosts ${text("hosts") ?? "*"}`;
    case "gateway":
      return `gateways ${text("replicas") ?? "*"}`;
    case "container": {
      const which = [text("name") && `named ${text("name")}`, text("label") && `labelled ${text("label")}`, text("id") && `id ${text("id")}`];
      return `containers ${which.filter(Boolean).join(", ") || "(all)"} on ${text("hosts") ?? "*"}`;
    }
    case "pod": {
      const selector = Object.entries((target.selector as Record<string, string>) ?? {}).map(([k, v]) => `${k}=${v}`);
      const which = [text("namespace") && `in ${text("namespace")}`, selector.length > 0 && selector.join(","), text("workload") && `of ${text("workload")}`];
      return `pods ${which.filter(Boolean).join(", ") || "(all)"} on ${text("clusters") ?? "*"}`;
    }
  }
}

export function describeCondition(condition: Rule["condition"]): string {
  switch (condition.kind) {
    case "metric":
      return `${condition.metric} ${condition.below ? "<" : ">"} ${condition.threshold}`;
    case "status":
      return condition.event === "restart_loop"
        ? `restart loop: ${condition.restarts} in ${condition.window_s} s`
        : `status ${condition.event}`;
    case "stale":
      return `silent for ${condition.after_s} s`;
    case "log":
      return `log /${condition.pattern}/ ${condition.count}× in ${condition.window_s} s`;
  }
}

/** The form's fields, as typed (numbers as text until the draft is made). */
export interface RuleForm {
  name: string;
  severity: string;
  targetKind: TargetKind;
  where: string; // the glob on hosts, clusters or gateway replicas
  nameGlob: string; // containers: their name; pods: their namespace
  label: string; // containers: key or key=value; pods: the workload
  conditionKind: ConditionKind;
  metric: string;
  threshold: string;
  below: boolean;
  event: string;
  restarts: string;
  windowS: string;
  afterS: string;
  pattern: string;
  count: string;
  holdS: string;
  recoveryS: string;
  propose: string; // "" for none
  replicas: string;
}

export function emptyForm(kind: TargetKind = "container"): RuleForm {
  return {
    name: "",
    severity: "warning",
    targetKind: kind,
    where: "*",
    nameGlob: "",
    label: "",
    conditionKind: "metric",
    metric: METRICS_OF[kind][0],
    threshold: "80",
    below: false,
    event: EVENTS_OF[kind][0] ?? "",
    restarts: "3",
    windowS: "300",
    afterS: "60",
    pattern: "",
    count: "1",
    holdS: "30",
    recoveryS: "30",
    propose: "",
    replicas: "1",
  };
}

const number = (text: string) => Number(text.trim() === "" ? NaN : text);

/** The rule draft the form says (`POST /api/alerts/rules`); the server says what is wrong. */
export function draftOf(form: RuleForm): Fields {
  const where = form.where.trim() || "*";
  const optional = (text: string) => (text.trim() === "" ? undefined : text.trim());
  const target: Fields = { kind: form.targetKind };
  if (form.targetKind === "host") target.hosts = where;
  if (form.targetKind === "gateway") target.replicas = where;
  if (form.targetKind === "container") Object.assign(target, { hosts: where, name: optional(form.nameGlob), label: optional(form.label) });
  if (form.targetKind === "pod") Object.assign(target, { clusters: where, namespace: optional(form.nameGlob), workload: optional(form.label) });
  const conditions: Record<ConditionKind, Fields> = {
    metric: { kind: "metric", metric: form.metric, threshold: number(form.threshold), below: form.below },
    status: { kind: "status", event: form.event, restarts: number(form.restarts), window_s: number(form.windowS) },
    stale: { kind: "stale", after_s: number(form.afterS) },
    log: { kind: "log", pattern: form.pattern, count: number(form.count), window_s: number(form.windowS) },
  };
  const draft: Fields = {
    name: form.name.trim(),
    target: JSON.parse(JSON.stringify(target)), // the fields left empty left out
    condition: conditions[form.conditionKind],
    severity: form.severity,
    hold_s: number(form.holdS),
    recovery_s: number(form.recoveryS),
  };
  if (form.propose !== "") {
    draft.propose = form.propose === "scale" ? { action: "scale", replicas: number(form.replicas) } : { action: form.propose };
  }
  return draft;
}
