// Live stores: channel data kept outside React and rendered at most a few times a
// second (seed 000: throttle updates), so a burst of frames costs one render.

import { useSyncExternalStore } from "react";

const RENDER_EVERY_MS = 250;

export class Live {
  private version = 0;
  private listeners = new Set<() => void>();
  private timer: ReturnType<typeof setTimeout> | null = null;

  /** Something changed: listeners hear of it at the next render tick. */
  changed(): void {
    if (this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.version += 1;
      for (const listener of this.listeners) listener();
    }, RENDER_EVERY_MS);
  }

  /** Something new to show (a host's first sample: its card, and its history's fetch,
   * should not wait for the tick): listeners hear of it now. */
  changedNow(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.version += 1;
    for (const listener of this.listeners) listener();
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getVersion = (): number => this.version;
}

/** Re-render when `live` changes (throttled); returns its version for memo keys. */
export function useLive(live: Live): number {
  return useSyncExternalStore(live.subscribe, live.getVersion);
}

/** A fixed-size window of the newest samples. */
export class Ring {
  readonly times: number[] = [];
  readonly values: number[][];

  constructor(
    readonly size: number,
    series: number,
  ) {
    this.values = Array.from({ length: series }, () => []);
  }

  push(time: number, ...values: number[]): void {
    this.times.push(time);
    values.forEach((value, i) => this.values[i].push(value));
    if (this.times.length > this.size) {
      this.times.shift();
      for (const series of this.values) series.shift();
    }
  }

  get last(): number[] | undefined {
    if (this.times.length === 0) return undefined;
    return this.values.map((series) => series[series.length - 1]);
  }
}
