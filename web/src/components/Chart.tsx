// A streaming time chart on uPlot: made once, then fed with setData as samples arrive
// (uPlot redraws a canvas in about a millisecond; no per-point DOM). Its axes are laid
// out by `axes.ts`: whole-second time ticks, labels that never repeat, a value axis as
// wide as its labels.

import { memo, useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { labelWidth, numberAxis, TIME_INCRS, timeRange, type ValueAxis } from "../axes";

export interface Series {
  label: string;
  color: string;
}

interface Props {
  title: string;
  series: Series[];
  times: number[];
  values: number[][];
  /** How the value axis steps and reads (default: plain numbers). */
  axis?: ValueAxis;
  height?: number;
  max?: number;
}

export const Chart = memo(function Chart({ title, series, times, values, axis = numberAxis, height = 160, max }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const element = box.current;
    if (element === null) return;
    const chart = new uPlot(
      {
        width: element.clientWidth || 400,
        height,
        legend: { live: false },
        cursor: { show: false },
        scales: {
          // From the samples themselves: uPlot stretches a single sample over days.
          x: { time: true, range: (u) => timeRange(u.data[0][0] ?? null, u.data[0].at(-1) ?? null) },
          y: max === undefined ? {} : { range: [0, max] },
        },
        axes: [
          { stroke: "#8b949e", grid: { stroke: "#21262d" }, incrs: [...TIME_INCRS] },
          {
            stroke: "#8b949e",
            grid: { stroke: "#21262d" },
            size: labelWidth,
            ...(axis.incrs ? { incrs: [...axis.incrs] } : {}),
            values: (_u, ticks, _axis, _space, incr) => axis.labels(ticks, incr),
          },
        ],
        series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5 }))],
      },
      [[], ...series.map(() => [])],
      element,
    );
    plot.current = chart;
    const resize = new ResizeObserver(() => chart.setSize({ width: element.clientWidth, height }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      chart.destroy();
      plot.current = null;
    };
  }, [series, axis, height, max]);

  useEffect(() => {
    plot.current?.setData([times.slice(), ...values.map((v) => v.slice())]);
  });

  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} />
    </figure>
  );
});
