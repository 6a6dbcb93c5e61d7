import { describe, expect, it } from "vitest";
import { applyDelta } from "../src/stream/deltas";
import type { DeltaFrame } from "../src/stream/protocol";

const snapshot = {
  seq: 7,
  data: {
    host: "web1",
    time: "t0",
    note: "x",
    containers: [
      { id: "a", name: "api", cpu_percent: 1 },
      { id: "b", name: "db", cpu_percent: 2 },
    ],
  },
};

function delta(fields: Partial<DeltaFrame>): DeltaFrame {
  return { type: "delta", channel: "docker.stats", key: "web1", seq: 8, ...fields };
}

describe("applyDelta", () => {
  it("sets and unsets top-level fields", () => {
    const next = applyDelta(snapshot, delta({ set: { time: "t1" }, unset: ["note"] }));
    expect(next?.seq).toBe(8);
    expect(next?.data.time).toBe("t1");
    expect("note" in (next?.data ?? {})).toBe(false);
    expect(next?.data.containers).toBe(snapshot.data.containers);
  });

  it("changes, adds and removes items by id, keeping the order", () => {
    const next = applyDelta(
      snapshot,
      delta({
        items: "containers",
        changed: { b: { cpu_percent: 9 } },
        added: [{ id: "c", name: "cache", cpu_percent: 3 }],
        removed: ["a"],
      }),
    );
    expect(next?.data.containers).toEqual([
      { id: "b", name: "db", cpu_percent: 9 },
      { id: "c", name: "cache", cpu_percent: 3 },
    ]);
    expect(snapshot.data.containers[1].cpu_percent).toBe(2); // the old snapshot is untouched
  });

  it("replaces an item sent whole in its place, and follows a new order", () => {
    const replaced = applyDelta(
      snapshot,
      delta({ items: "containers", added: [{ id: "a", name: "api" }] }), // lost cpu_percent
    );
    expect(replaced?.data.containers).toEqual([
      { id: "a", name: "api" },
      { id: "b", name: "db", cpu_percent: 2 },
    ]);
    const moved = applyDelta(snapshot, delta({ items: "containers", order: ["b", "a"] }));
    expect((moved?.data.containers as { id: string }[]).map((c) => c.id)).toEqual(["b", "a"]);
  });

  it("refuses a delta that skips a sequence or has no snapshot", () => {
    expect(applyDelta(snapshot, delta({ seq: 9 }))).toBeNull();
    expect(applyDelta(snapshot, delta({ seq: 7 }))).toBeNull();
    expect(applyDelta(undefined, delta({}))).toBeNull();
  });
});
