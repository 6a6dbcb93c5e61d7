// State deltas: after a full snapshot (`update` with `key` and `seq`), a `delta` frame
// changes that snapshot's data. Items of the list named by `items` are keyed by `id`:
// kept items keep their place, an added item with a known id replaces it in place, new
// ones go last, and `order` (sent only when items moved) gives the new order. The same
// rules as `vigil.deltas.apply`.

import type { DeltaFrame } from "./protocol";

type Data = Record<string, unknown>;
type Item = Record<string, unknown>;

export interface Snapshot {
  seq: number;
  data: Data;
}

/** The snapshot after `delta`, or null when it does not follow `snapshot` (a missing
 * or skipped sequence): the subscriber must then fetch a fresh snapshot. */
export function applyDelta(snapshot: Snapshot | undefined, delta: DeltaFrame): Snapshot | null {
  if (snapshot === undefined || delta.seq !== snapshot.seq + 1) return null;
  const data: Data = { ...snapshot.data, ...(delta.set ?? {}) };
  for (const field of delta.unset ?? []) delete data[field];
  if (delta.items !== undefined) {
    const list = Array.isArray(data[delta.items]) ? (data[delta.items] as Item[]) : [];
    data[delta.items] = applyItems(list, delta);
  }
  return { seq: delta.seq, data };
}

function applyItems(list: Item[], delta: DeltaFrame): Item[] {
  const removed = new Set(delta.removed ?? []);
  const changed = delta.changed ?? {};
  const items = new Map<string, Item>(); // a Map keeps each key's first place
  for (const item of list) {
    const id = String(item.id);
    if (removed.has(id)) continue;
    items.set(id, id in changed ? { ...item, ...changed[id] } : item);
  }
  for (const item of delta.added ?? []) items.set(String(item.id), item);
  if (delta.order !== undefined) {
    return delta.order.flatMap((id) => (items.has(id) ? [items.get(id) as Item] : []));
  }
  return [...items.values()];
}
