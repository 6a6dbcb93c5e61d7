// A streaming time chart on uPlot: made once, then fed with setData as samples arrive
// (uPlot redraws a canvas in about a millisecond; no per-point DOM). Its axes are laid
// out by `axes.ts`: whole-second time ticks, labels that never repeat, a value axis as
// wide as its labels.
//
// A page's charts share a `sync` key: one crosshair across them (uPlot's cursor sync),
// and a drag across one picks a range (`onZoom`, for the page's range picker). The
// figure says what it drew (`data-points`, `data-start`: its first point's time, and `data-first-points` and
// `data-first-paint-ms` of its first paint with data), for tests and benchmarks.

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
  values: (number | null)[][];
  /** How the value axis steps and reads (default: plain numbers). */
  axis?: ValueAxis;
  height?: number;
  max?: number;
  /** The x range (seconds) to show; by default the samples' own. */
  window?: [number, number];
  /** Charts with the same key share a crosshair. */
  sync?: string;
  /** A drag across the chart picked this range (seconds). */
  onZoom?: (start: number, end: number) => void;
}

export const Chart = memo(function Chart({
  title,
  series,
  times,
  values,
  axis = numberAxis,
  height = 160,
  max,
  window,
  sync,
  onZoom,
}: Props) {
  const figure = useRef<HTMLElement>(null);
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shown = useRef(window);
  shown.current = window;
  const zoom = useRef(onZoom);
  zoom.current = onZoom;

  useEffect(() => {
    const element = box.current;
    if (element === null) return;
    const chart = new uPlot(
      {
        width: element.clientWidth || 400,
        height,
        legend: { live: false },
        cursor: {
          ...(sync === undefined ? {} : { sync: { key: sync } }),
          drag: { x: true, y: false, setScale: false },
          points: { show: false },
        },
        hooks: {
          setSelect: [
            (u) => {
              if (u.select.width < 2) return;
              const start = u.posToVal(u.select.left, "x");
              const end = u.posToVal(u.select.left + u.select.width, "x");
              u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
              zoom.current?.(start, end);
            },
          ],
        },
        scales: {
          // The page's range, else the samples' own: uPlot stretches a single sample over days.
          x: {
            time: true,
            range: (u) => shown.current ?? timeRange(u.data[0][0] ?? null, u.data[0].at(-1) ?? null),
          },
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
  }, [series, axis, height, max, sync]);

  useEffect(() => {
    plot.current?.setData([times.slice(), ...values.map((v) => v.slice())] as uPlot.AlignedData);
    const element = figure.current;
    if (element === null) return;
    element.dataset.points = String(times.length);
    element.dataset.start = String(times[0] ?? "");
    if (times.length > 0 && element.dataset.firstPoints === undefined) {
      element.dataset.firstPoints = String(times.length);
      element.dataset.firstTime = String(times[0]);
      element.dataset.firstPaintMs = performance.now().toFixed(1);
    }
  });

  return (
    <figure className="chart" ref={figure} data-testid="chart" data-title={title}>
      <figcaption>{title}</figcaption>
      <div ref={box} />
    </figure>
  );
});
