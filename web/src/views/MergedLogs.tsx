// Merged logs (`logs.merged`): the lines of every container a selector picks (a label,
// a name pattern, on one host or all) and of every pod a Kubernetes one picks (a label
// selector, a workload, in a namespace, on a cluster or every one the user may see) in
// one time-ordered view, filtered at the gateway (text, regex, least level). The
// selector lives in the route (`#/logs?label=app=web&name=web-*`,
// `#/logs?workload=deployment/web&namespace=shop`), so other pages can link to it. Its
// search box can ask the server too, with the view's selectors: the kept lines of what
// they pick now (`/api/logs/search`).

import { type FormEvent, useMemo, useState } from "react";
import { useApp } from "../app-context";
import { LogView } from "../components/LogView";
import { useLive } from "../live";
import { mergedEntries } from "../logs";
import type { Params } from "../stream/protocol";

// what picks the view's sources, then what filters their lines
const SELECTORS = ["label", "name", "host", "selector", "workload", "namespace", "cluster"] as const;
const FIELDS = [...SELECTORS, "grep", "regex", "level"] as const;
const GATEWAY_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"];

/** The route of a merged view of `params` (empty values left out). */
export function mergedRoute(params: Params): string {
  const query = new URLSearchParams(Object.entries(params).filter(([, value]) => value !== ""));
  return `#/logs?${query}`;
}

export function MergedLogs({ query }: { query: string }) {
  const { containers } = useApp();
  const version = useLive(containers);
  const params = useMemo(() => {
    const given = new URLSearchParams(query);
    const params: Params = {};
    for (const field of FIELDS) {
      const value = given.get(field);
      if (value) params[field] = value;
    }
    return params;
  }, [query]);
  const searchWhere = useMemo(
    () => Object.fromEntries(SELECTORS.filter((name) => params[name]).map((name) => [name, params[name]])),
    [params],
  );
  const [form, setForm] = useState<Params>(params);
  const hosts = useMemo(() => [...new Set([...containers.rows.values()].map((row) => row.host))].sort(), [version]); // eslint-disable-line
  const picks = (p: Params) => Boolean(p.label || p.name || p.selector || p.workload);
  const selected = picks(params);

  const field = (name: (typeof FIELDS)[number]) => ({
    value: form[name] ?? "",
    onChange: (e: { target: { value: string } }) => setForm({ ...form, [name]: e.target.value }),
    "data-testid": `merged-${name}`,
  });
  const open = (e: FormEvent) => {
    e.preventDefault();
    window.location.hash = mergedRoute(form);
  };

  return (
    <div>
      <h2>Merged logs</h2>
      <form className="merged-form" onSubmit={open} data-testid="merged-form">
        <label>
          label <input placeholder="key or key=value" {...field("label")} />
        </label>
        <label>
          name <input placeholder="a glob: web-*" {...field("name")} />
        </label>
        <label>
          host
          <select {...field("host")}>
            <option value="">all hosts</option>
            {hosts.map((h) => (
              <option key={h}>{h}</option>
            ))}
          </select>
        </label>
        <label>
          pod selector <input placeholder="app=web,tier!=db" {...field("selector")} />
        </label>
        <label>
          workload <input placeholder="deployment/web" {...field("workload")} />
        </label>
        <label>
          namespace <input placeholder="all" {...field("namespace")} />
        </label>
        <label>
          cluster <input placeholder="all you may see" {...field("cluster")} />
        </label>
        <label>
          text <input placeholder="any case" {...field("grep")} />
        </label>
        <label>
          regex <input {...field("regex")} />
        </label>
        <label>
          least level
          <select {...field("level")}>
            <option value="">any (lines without one too)</option>
            {GATEWAY_LEVELS.map((level) => (
              <option key={level}>{level}</option>
            ))}
          </select>
        </label>
        <button className="primary" type="submit" disabled={!picks(form)} data-testid="merged-open">
          Open
        </button>
      </form>
      {selected ? (
        <LogView channel="logs.merged" params={params} entries={mergedEntries} fileName="merged.log" sources searchWhere={searchWhere} />
      ) : (
        <p className="muted">A merged view needs a label or a name pattern (containers), or a pod selector or workload (pods).</p>
      )}
    </div>
  );
}
