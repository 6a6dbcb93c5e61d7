import { describe, expect, it } from "vitest";
import { type Rule, conditionsOf, describeCondition, describeTarget, draftOf, emptyForm } from "../src/rules";

describe("draftOf", () => {
  it("makes a container rule of the form, leaving empty fields out", () => {
    const form = { ...emptyForm("container"), name: "busy web", where: "web*", nameGlob: "api-*", threshold: "75.5", holdS: "10" };
    expect(draftOf(form)).toEqual({
      name: "busy web",
      target: { kind: "container", hosts: "web*", name: "api-*" },
      condition: { kind: "metric", metric: "cpu_percent", threshold: 75.5, below: false },
      severity: "warning",
      hold_s: 10,
      recovery_s: 30,
    });
  });

  it("makes a pod rule proposing a scale, and a gateway's stale rule", () => {
    const pods = { ...emptyForm("pod"), name: "crashing", where: "prod", label: "deployment/web", conditionKind: "status" as const, event: "crash_loop", propose: "scale", replicas: "3" };
    expect(draftOf(pods)).toMatchObject({
      target: { kind: "pod", clusters: "prod", workload: "deployment/web" },
      condition: { kind: "status", event: "crash_loop" },
      propose: { action: "scale", replicas: 3 },
    });
    const gateways = { ...emptyForm("gateway"), name: "gone", conditionKind: "stale" as const, afterS: "20" };
    expect(draftOf(gateways)).toMatchObject({ target: { kind: "gateway", replicas: "*" }, condition: { kind: "stale", after_s: 20 } });
  });

  it("sends what is not a number as null, for the server to name", () => {
    const draft = draftOf({ ...emptyForm("host"), name: "x", threshold: "lots" }) as { condition: { threshold: unknown } };
    expect(JSON.parse(JSON.stringify(draft)).condition.threshold).toBeNull();
  });
});

describe("the tables", () => {
  it("offers each kind of target only its conditions", () => {
    expect(conditionsOf("host")).toEqual(["metric", "stale"]);
    expect(conditionsOf("container")).toEqual(["metric", "status", "stale", "log"]);
    expect(conditionsOf("gateway")).toEqual(["metric", "stale"]);
  });
});

describe("describe", () => {
  const rule = (target: Rule["target"], condition: Rule["condition"]) => ({ target, condition });
  it("says a rule's target and condition in words", () => {
    const r = rule({ kind: "container", hosts: "*", label: "tier=db" }, { kind: "metric", metric: "memory_of_limit", threshold: 90, below: false });
    expect(describeTarget(r.target)).toBe("containers labelled tier=db on *");
    expect(describeCondition(r.condition)).toBe("memory_of_limit > 90");
    expect(describeTarget({ kind: "pod", clusters: "c1", selector: { app: "web" } })).toBe("pods app=web on c1");
    expect(describeCondition({ kind: "status", event: "restart_loop", restarts: 3, window_s: 300 })).toBe("restart loop: 3 in 300 s");
    expect(describeCondition({ kind: "log", pattern: "panic", count: 2, window_s: 60 })).toBe("log /panic/ 2× in 60 s");
  });
});
