// A deploy's pull progress as the deploy page shows it: in IEC units like the rest of
// the dashboard, and "?" for a total that Docker has not told yet (it names every layer
// first and tells a layer's size only once that layer starts downloading).

import { bytes } from "./format";

export interface LayerProgress {
  id: string;
  status: string;
  current: number;
  total: number | null;
  percent: number;
}

export interface PullProgress {
  layers: LayerProgress[];
  /** Bytes downloaded over every layer of known size. */
  current: number;
  /** Bytes of every layer whose size is known (so far). */
  total: number;
  percent: number;
}

/** The total is known once every layer still to come has told its size (a layer the
 * host has already is done without one). */
export function totalKnown(pull: PullProgress): boolean {
  return pull.layers.length > 0 && pull.layers.every((layer) => layer.total !== null || layer.percent >= 100);
}

/** `33 % · 1.2 MiB of 3.5 MiB · 1/3 layers`, or `… of ?` while the total is unknown. */
export function pullLine(pull: PullProgress): string {
  const done = pull.layers.filter((layer) => layer.percent >= 100).length;
  const total = totalKnown(pull) ? bytes(pull.total) : "?";
  return `${pull.percent.toFixed(0)} % · ${bytes(pull.current)} of ${total} · ${done}/${pull.layers.length} layers`;
}

/** A layer's bytes: `1.0 MiB of 2.0 MiB`, `1.0 MiB of ?` before its size is told, nothing
 * before it starts. */
export function layerLine(layer: LayerProgress): string {
  if (layer.total !== null) return `${bytes(layer.current)} of ${bytes(layer.total)}`;
  return layer.current > 0 ? `${bytes(layer.current)} of ?` : "";
}
