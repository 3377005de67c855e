// The whole view lives in the URL's query string, so a link reopens the same view and the back button
// walks through searches. Defaults are left out of the URL to keep links short.

export interface State {
  q: string;
  from: string; // epoch ms or a relative expression such as now-15m
  to: string;
  cols: string[]; // chosen columns; empty means time + message
  ctx: string | null; // id of the hit whose context is open
  before: number; // context lines before / after the hit
  after: number;
  live: boolean;
}

export const DEFAULTS: State = {
  q: "",
  from: "now-15m",
  to: "now",
  cols: [],
  ctx: null,
  before: 10,
  after: 10,
  live: false,
};

function count(raw: string | null, fallback: number): number {
  const n = raw === null ? NaN : Number.parseInt(raw, 10);
  return Number.isFinite(n) && n >= 0 && n <= 1000 ? n : fallback;
}

export function parseState(search: string): State {
  const p = new URLSearchParams(search);
  const cols = (p.get("cols") ?? "").split(",").map((c) => c.trim()).filter((c) => c !== "");
  return {
    q: p.get("q") ?? DEFAULTS.q,
    from: p.get("from") || DEFAULTS.from,
    to: p.get("to") || DEFAULTS.to,
    cols,
    ctx: p.get("ctx") || null,
    before: count(p.get("before"), DEFAULTS.before),
    after: count(p.get("after"), DEFAULTS.after),
    live: p.get("live") === "1",
  };
}

export function stateQuery(s: State): string {
  const p = new URLSearchParams();
  if (s.q !== DEFAULTS.q) p.set("q", s.q);
  if (s.from !== DEFAULTS.from) p.set("from", s.from);
  if (s.to !== DEFAULTS.to) p.set("to", s.to);
  if (s.cols.length) p.set("cols", s.cols.join(","));
  if (s.ctx !== null) {
    p.set("ctx", s.ctx);
    if (s.before !== DEFAULTS.before) p.set("before", String(s.before));
    if (s.after !== DEFAULTS.after) p.set("after", String(s.after));
  }
  if (s.live) p.set("live", "1");
  const text = p.toString();
  return text ? `?${text}` : "";
}

/** The part of the state that decides which documents match: a change reloads results. */
export function searchKey(s: State): string {
  return JSON.stringify([s.q, s.from, s.to]);
}
