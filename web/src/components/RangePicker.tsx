// The range a page's charts show: the last 15 min ... 30 days (following live), or a
// custom start and end (typed, or dragged across a chart).

import { useState } from "react";
import { PRESETS, rangeLabel, sameRange, type TimeRange } from "../history";

function local(seconds: number): string {
  const date = new Date(seconds * 1000);
  return new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

export function RangePicker({ range, onChange, note }: { range: TimeRange; onChange: (range: TimeRange) => void; note?: string | null }) {
  const [custom, setCustom] = useState(false);
  const now = Date.now() / 1000;
  const [start, setStart] = useState(local(range.kind === "between" ? range.start : now - 3600));
  const [end, setEnd] = useState(local(range.kind === "between" ? range.end : now));
  const apply = () => {
    const from = Date.parse(start) / 1000;
    const to = Date.parse(end) / 1000;
    if (Number.isFinite(from) && Number.isFinite(to) && to > from) onChange({ kind: "between", start: from, end: to });
  };
  return (
    <div className="toolbar range-picker" data-testid="range-picker" data-range={range.kind === "since" ? `since:${range.seconds}` : `between:${range.start}:${range.end}`}>
      <span className="muted">range</span>
      {PRESETS.map((preset) => {
        const preset_range: TimeRange = { kind: "since", seconds: preset.seconds };
        return (
          <button
            key={preset.since}
            className={sameRange(range, preset_range) ? "sorted" : ""}
            onClick={() => {
              setCustom(false);
              onChange(preset_range);
            }}
            data-testid={`range-${preset.since}`}
          >
            {preset.label}
          </button>
        );
      })}
      <button className={range.kind === "between" ? "sorted" : ""} onClick={() => setCustom(!custom)} data-testid="range-custom">
        custom
      </button>
      {custom && (
        <>
          <input type="datetime-local" value={start} onChange={(e) => setStart(e.target.value)} aria-label="start" data-testid="range-start" />
          <input type="datetime-local" value={end} onChange={(e) => setEnd(e.target.value)} aria-label="end" data-testid="range-end" />
          <button onClick={apply} data-testid="range-apply">show</button>
        </>
      )}
      {range.kind === "between" && <span className="muted" data-testid="range-label">{rangeLabel(range)}</span>}
      <span className="muted">drag across a chart to zoom</span>
      {note && <span className="muted" data-testid="range-note">{note}</span>}
    </div>
  );
}
