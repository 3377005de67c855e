// Time ranges: relative expressions (now, now-15m) as the API takes them, and epoch ms for absolute ones.

const UNIT_MS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  M: 30 * 86_400_000,
  y: 365 * 86_400_000,
};

const UNIT_NAME: Record<string, string> = {
  s: "second", m: "minute", h: "hour", d: "day", w: "week", M: "month", y: "year",
};

export const PRESETS: { label: string; from: string }[] = [
  { label: "Last 5 minutes", from: "now-5m" },
  { label: "Last 15 minutes", from: "now-15m" },
  { label: "Last 1 hour", from: "now-1h" },
  { label: "Last 4 hours", from: "now-4h" },
  { label: "Last 24 hours", from: "now-24h" },
  { label: "Last 7 days", from: "now-7d" },
  { label: "Last 30 days", from: "now-30d" },
];

const RELATIVE = /^now(?:-(\d+)([smhdwMy]))?$/;

/** Epoch ms for an expression; null when it cannot be read (the server then answers with its error). */
export function resolve(expr: string, now: number = Date.now()): number | null {
  if (/^\d+$/.test(expr)) return Number(expr);
  const m = RELATIVE.exec(expr);
  if (!m) return null;
  return m[1] ? now - Number(m[1]) * UNIT_MS[m[2]] : now;
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, "0");
}

/** Local time as 2026-12-01 03:04:05.678, the way log readers scan it. */
export function formatTime(ms: number, withMs = true): string {
  const d = new Date(ms);
  const base = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return withMs ? `${base}.${pad(d.getMilliseconds(), 3)}` : base;
}

/** Value for <input type=datetime-local step=1>. */
export function toInputValue(ms: number): string {
  return formatTime(ms, false).replace(" ", "T");
}

export function fromInputValue(value: string): number | null {
  if (!value) return null;
  const ms = new Date(value).getTime(); // datetime-local is read as local time
  return Number.isFinite(ms) ? ms : null;
}

function describeEnd(expr: string): string {
  const ms = resolve(expr);
  return ms === null || expr === "now" ? expr : formatTime(ms, false);
}

/** "Last 15 minutes", or "2026-12-01 03:00:00 → 2026-12-01 03:10:00". */
export function describeRange(from: string, to: string): string {
  const preset = PRESETS.find((p) => p.from === from);
  if (preset && to === "now") return preset.label;
  const m = RELATIVE.exec(from);
  if (m && m[1] && to === "now") {
    const n = Number(m[1]);
    return `Last ${n} ${UNIT_NAME[m[2]]}${n === 1 ? "" : "s"}`;
  }
  return `${describeEnd(from)} → ${describeEnd(to)}`;
}
