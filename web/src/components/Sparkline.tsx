// A row's tiny trend line: one SVG path, redrawn only when its values change.

import { memo } from "react";

export const Sparkline = memo(function Sparkline({
  values,
  max,
  version,
}: {
  values: number[];
  max?: number;
  version: number; // the store's version: the array is updated in place
}) {
  void version;
  const width = 80;
  const height = 20;
  if (values.length < 2) return <svg width={width} height={height} />;
  const top = Math.max(max ?? 0, ...values, 1e-9);
  const step = width / (values.length - 1);
  const points = values
    .map((value, i) => `${(i * step).toFixed(1)},${(height - (value / top) * height).toFixed(1)}`)
    .join(" ");
  return (
    <svg width={width} height={height} className="sparkline">
      <polyline points={points} fill="none" stroke="#58a6ff" strokeWidth="1.2" />
    </svg>
  );
});
