// A streaming time chart on uPlot: made once, then fed with setData as samples arrive
// (uPlot redraws a canvas in about a millisecond; no per-point DOM).

import { memo, useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface Series {
  label: string;
  color: string;
}

interface Props {
  title: string;
  series: Series[];
  times: number[];
  values: number[][];
  format?: (value: number) => string;
  height?: number;
  max?: number;
}

export const Chart = memo(function Chart({ title, series, times, values, format, height = 160, max }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const element = box.current;
    if (element === null) return;
    const show = format ?? ((value: number) => value.toFixed(1));
    const chart = new uPlot(
      {
        width: element.clientWidth || 400,
        height,
        legend: { live: false },
        cursor: { show: false },
        scales: { x: { time: true }, y: max === undefined ? {} : { range: [0, max] } },
        axes: [
          { stroke: "#8b949e", grid: { stroke: "#21262d" } },
          {
            stroke: "#8b949e",
            grid: { stroke: "#21262d" },
            size: 70,
            values: (_u, ticks) => ticks.map(show),
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
  }, [series, format, height, max]);

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
