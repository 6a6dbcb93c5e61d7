export function bytes(value: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let n = value;
  let unit = 0;
  while (Math.abs(n) >= 1024 && unit < units.length - 1) {
    n /= 1024;
    unit += 1;
  }
  return `${n.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export const rate = (value: number): string => `${bytes(value)}/s`;
export const percent = (value: number): string => `${value.toFixed(1)} %`;
export const clock = (iso: string): string => new Date(iso).toLocaleTimeString();
/** The time of day, with the date when it is not today (a silence ending tomorrow). */
export function moment(iso: string, now: Date = new Date()): string {
  const at = new Date(iso);
  return at.toDateString() === now.toDateString() ? at.toLocaleTimeString() : at.toLocaleString();
}
