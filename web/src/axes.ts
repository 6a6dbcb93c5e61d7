// How the charts' axes are laid out (uPlot's `incrs`, `values`, `size`, `range`):
//
// - Time: ticks at whole seconds or more (samples come every second or two: a tick at
//   half a second marks nothing), over at least a minute, so a chart with its first
//   few samples does not stretch them over years or milliseconds.
// - Values: labels with as many decimals as the tick step needs, so two ticks never
//   read the same (0.01 % and 0.02 % are not both "0.0"); byte rates step in powers of
//   two and read in one IEC unit per axis ("16 MiB/s", "18 MiB/s"...).
// - The value axis is as wide as its widest label, measured in the axis's font, so
//   "18.1 MiB/s" is never cut to "8.1 MiB/s".

import uPlot from "uplot";

/** Seconds between time ticks: whole seconds, minutes, hours, days. */
export const TIME_INCRS: readonly number[] = [
  1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
];

/** The narrowest stretch of time a chart shows, in seconds. */
export const MIN_SPAN_S = 60;

/** The x range of samples from `min` to `max` (seconds): theirs, widened to
 * `MIN_SPAN_S` ending at the newest. */
export function timeRange(min: number | null, max: number | null): [number, number] {
  const end = max ?? Date.now() / 1000;
  const start = min ?? end;
  return end - start < MIN_SPAN_S ? [end - MIN_SPAN_S, end] : [start, end];
}

/** A value axis: where its ticks may fall, and how they read. */
export interface ValueAxis {
  incrs?: readonly number[];
  labels(ticks: number[], incr: number): string[];
}

/** The decimals a step needs to show exactly (at most 6): 5 -> 0, 0.5 -> 1, 0.25 -> 2. */
export function decimalsOf(step: number): number {
  for (let decimals = 0; decimals < 6; decimals++) {
    const shown = Number(step.toFixed(decimals));
    if (Math.abs(shown - step) <= Math.abs(step) * 1e-9) return decimals;
  }
  return 6;
}

/** Plain numbers (percents: the chart's title says so). */
export const numberAxis: ValueAxis = {
  labels: (ticks, incr) => ticks.map((tick) => tick.toFixed(decimalsOf(incr))),
};

const IEC = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** Byte rates: ticks at powers of two, read in the unit of the largest tick (or a
 * smaller one, where the step would need more than two decimals in it). */
export const rateAxis: ValueAxis = {
  incrs: Array.from({ length: 51 }, (_, power) => 2 ** power),
  labels: (ticks, incr) => {
    const largest = Math.max(0, ...ticks.map(Math.abs));
    let unit = 0;
    while (unit < IEC.length - 1 && largest >= 1024 ** (unit + 1)) unit += 1;
    while (unit > 0 && incr / 1024 ** unit < 0.25) unit -= 1;
    const decimals = decimalsOf(incr / 1024 ** unit);
    return ticks.map((tick) => `${(tick / 1024 ** unit).toFixed(decimals)} ${IEC[unit]}/s`);
  },
};

/** Bytes: as byte rates read, without the "/s". */
export const bytesAxis: ValueAxis = {
  incrs: rateAxis.incrs,
  labels: (ticks, incr) => rateAxis.labels(ticks, incr).map((label) => label.replace(/\/s$/, "")),
};

/** uPlot's `size` for a left axis: its widest label, measured in its font, plus its
 * ticks and gap. uPlot asks again as labels change; a third ask in one layout keeps the
 * last answer (so the layout converges). */
export const labelWidth: uPlot.Axis.Size = (self, values, axisIndex, cycle) => {
  const axis = self.axes[axisIndex] as uPlot.Axis & { _size?: number; font?: [string, number] | string };
  if (cycle > 1 && axis._size !== undefined) return axis._size;
  const ticksAndGap = (axis.ticks?.size ?? 10) + (axis.gap ?? 5) + 2;
  if (!values?.length) return axis._size ?? ticksAndGap + 40;
  self.ctx.font = Array.isArray(axis.font) ? axis.font[0] : (axis.font ?? self.ctx.font);
  const widest = Math.max(...values.map((label) => self.ctx.measureText(String(label ?? "")).width));
  return Math.ceil(ticksAndGap + widest / uPlot.pxRatio);
};
