import { describe, expect, it } from "vitest";
import { type Silence, describeMatcher, draftFor, matcherFor, matches, parseDuration, silencing } from "../src/silences";
import type { Alert } from "../src/stores";

const alert: Alert = {
  id: "rule:abc:host:web.1",
  state: "raised",
  source: "rule",
  host: "web.1",
  metric: "cpu_percent",
  value: 95,
  threshold: 80,
  time: "2026-01-01T00:00:00Z",
  message: "hot",
  labels: { team: "web" },
};

const NOW = Date.parse("2026-01-01T01:00:00Z");

function silence(matcher: Partial<Silence["matcher"]>, starts = "2026-01-01T00:00:00Z", ends = "2026-01-01T02:00:00Z"): Silence {
  return {
    id: "0123456789abcdef",
    matcher: { alert_ids: "*", hosts: "*", sources: [], labels: {}, ...matcher },
    starts,
    ends,
    comment: "",
    created_by: "otto",
    created_at: starts,
  };
}

describe("parseDuration", () => {
  it("reads minutes, hours and days, alone or together", () => {
    expect(parseDuration("90m")).toBe(5400);
    expect(parseDuration("2h")).toBe(7200);
    expect(parseDuration("1d 12h")).toBe(36 * 3600);
    expect(parseDuration("1H30M")).toBe(5400);
  });

  it("refuses what is not a duration, and nothing at all", () => {
    for (const text of ["", "2", "h", "2 hours", "-1h", "1.5h", "0m", "0h0m"]) expect(parseDuration(text)).toBeNull();
  });
});

describe("a silence from an alert", () => {
  it("matches that alert alone, from now for the duration", () => {
    const draft = draftFor(matcherFor(alert), 3600, "deploying", NOW);
    expect(draft).toEqual({
      matcher: { alert_ids: alert.id, hosts: "*", sources: [], labels: {} },
      ends: "2026-01-01T02:00:00.000Z",
      comment: "deploying",
    });
    expect(matches(draft.matcher, alert)).toBe(true);
    expect(matches(draft.matcher, { ...alert, id: "rule:abc:host:web.10" })).toBe(false);
    expect(matches(draft.matcher, { ...alert, id: "rule:abc:host:webx1" })).toBe(false); // '.' is a dot
  });
});

describe("silencing", () => {
  it("finds the silences in force whose every condition holds, ending last first", () => {
    const short = silence({ hosts: "web.*" }, "2026-01-01T00:00:00Z", "2026-01-01T01:30:00Z");
    const long = silence({ labels: { team: "web" }, sources: ["rule", "host"] });
    const over = silence({}, "2026-01-01T00:00:00Z", "2026-01-01T00:30:00Z");
    const later = silence({}, "2026-01-01T01:30:00Z", "2026-01-01T03:00:00Z");
    const otherTeam = silence({ labels: { team: "db" } });
    const otherSource = silence({ sources: ["k8s"] });
    const otherHost = silence({ hosts: "db?" });
    const found = silencing([short, long, over, later, otherTeam, otherSource, otherHost], alert, NOW);
    expect(found).toEqual([long, short]);
  });

  it("takes a Kubernetes alert's cluster as its host", () => {
    const pod = { ...alert, source: "k8s", host: "node-1", cluster: "prod" };
    expect(silencing([silence({ hosts: "prod" })], pod, NOW)).toHaveLength(1);
    expect(silencing([silence({ hosts: "node-1" })], pod, NOW)).toHaveLength(0);
  });
});

describe("describeMatcher", () => {
  it("says each condition given", () => {
    expect(describeMatcher(matcherFor(alert))).toBe(alert.id);
    expect(describeMatcher({ alert_ids: "*", hosts: "web*", sources: ["rule"], labels: { team: "web" } })).toBe(
      "any alert on web* from rule with team=web",
    );
  });
});
