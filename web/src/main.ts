// podlog's search page: wires the URL state to the search API and the views. Every user action becomes a
// new URL (history.pushState) and the page renders from the URL alone, so links and the back button work.

import "./style.css";
import { ApiError, apiUrl, getJSON, setToken } from "./api";
import type { ContextResult, FieldInfo, Histogram, Hit, SearchResult, Stats, TopValues } from "./api";
import { byId, bytes, compact, h } from "./dom";
import { HistogramChart } from "./histogram";
import { filterIn, filterOut, renderQueryError } from "./query";
import { Sidebar } from "./sidebar";
import { type State, parseState, searchKey, stateQuery } from "./state";
import { ResultsTable, highlighted } from "./table";
import { PRESETS, describeRange, formatTime, fromInputValue, resolve, toInputValue } from "./time";

const PAGE = 100;
const LIVE_MAX_ROWS = 1000;
const STATS_EVERY_MS = 5000;

let state: State = parseState(location.search);
let loadedKey: string | null = null;
let shownCols = "";
let hits: Hit[] = [];
let total = 0;
let searchAbort: AbortController | null = null;
let tail: EventSource | null = null;
let tailKey = "";
let liveCount = 0;
let contextKey = "";
let notIndexed = new Set<string>();

const queryInput = byId<HTMLInputElement>("query");
const queryError = byId("query-error");
const loadError = byId("load-error");
const more = byId<HTMLButtonElement>("more");

// ---- navigation -------------------------------------------------------------------------------------

/** Apply a change as a new history entry and render it; returns false when nothing changed. */
function navigate(patch: Partial<State>): boolean {
  const next = { ...state, ...patch };
  const url = `${location.pathname}${stateQuery(next)}`;
  if (url === `${location.pathname}${location.search}`) return false;
  history.pushState(null, "", url);
  state = next;
  void render();
  return true;
}

window.addEventListener("popstate", () => {
  state = parseState(location.search);
  void render();
});

const actions = {
  searchable: (field: string) => !notIndexed.has(field),
  filterIn: (field: string, value: unknown) => navigate({ q: filterIn(state.q, field, value), ctx: null }),
  filterOut: (field: string, value: unknown) => navigate({ q: filterOut(state.q, field, value), ctx: null }),
  toggleColumn: (field: string) => {
    const cols = state.cols.includes(field) ? state.cols.filter((c) => c !== field) : [...state.cols, field];
    navigate({ cols });
  },
  context: (hit: Hit) => navigate({ ctx: hit.id, before: 10, after: 10 }),
  top: (field: string) => getJSON<TopValues>("/api/top", { field, ...range(), size: 10 }),
};

const table = new ResultsTable(byId<HTMLTableElement>("hits"), actions);
const sidebar = new Sidebar(byId("selected-fields"), byId("available-fields"),
  byId<HTMLInputElement>("field-filter"), actions);
const chart = new HistogramChart(byId("histogram"), byId("hist-hover"), (from, to) =>
  navigate({ from: String(from), to: String(to), ctx: null }));

function range(): { q: string; from: string; to: string } {
  return { q: state.q, from: state.from, to: state.to };
}

// ---- rendering ----------------------------------------------------------------------------------------

async function render(force = false): Promise<void> {
  queryInput.value = state.q;
  byId("time-button").textContent = describeRange(state.from, state.to);
  document.title = state.q ? `${state.q} · podlog` : "podlog";
  byId<HTMLInputElement>("live").checked = state.live;
  updateExportLinks();
  const cols = state.cols.join(",");
  const view = stateQuery(state);
  const loads: Promise<void>[] = [];
  if (force || searchKey(state) !== loadedKey) {
    shownCols = cols;
    loads.push(search());
  } else if (cols !== shownCols) {
    shownCols = cols;
    table.header(state.cols);
    table.rows(hits, state.cols);
    sidebar.setColumns(state.cols);
  }
  syncTail();
  loads.push(showContext());
  await Promise.all(loads);
  // Settled: tests (and curious people) can wait for body[data-ready] to equal the address's query.
  if (stateQuery(state) === view) document.body.dataset.ready = view;
}

function updateExportLinks(): void {
  // CSV columns: time and the chosen ones (the server's default set when none are chosen)
  const cols = state.cols.filter((c) => c !== "time");
  const params = { ...range(), columns: cols.length ? ["time", ...cols].join(",") : undefined };
  byId<HTMLAnchorElement>("export-ndjson").href = apiUrl("/api/export", { ...params, format: "ndjson" }, true);
  byId<HTMLAnchorElement>("export-csv").href = apiUrl("/api/export", { ...params, format: "csv" }, true);
}

function showError(e: unknown): void {
  if (e instanceof DOMException && e.name === "AbortError") return;
  if (e instanceof ApiError && e.status === 401) {
    byId("token-banner").hidden = false;
    return;
  }
  if (e instanceof ApiError && e.status === 400 && e.position !== null) { // the query's own error
    queryInput.classList.add("invalid");
    renderQueryError(queryError, state.q, e.message, e.position);
    return;
  }
  loadError.textContent = e instanceof Error ? e.message : String(e);
  loadError.hidden = false;
}

async function search(): Promise<void> {
  searchAbort?.abort();
  const abort = new AbortController();
  searchAbort = abort;
  const key = searchKey(state);
  const params = range();
  document.body.classList.add("loading");
  queryError.hidden = true;
  queryInput.classList.remove("invalid");
  loadError.hidden = true;
  try {
    const [res, hist, fields] = await Promise.all([
      getJSON<SearchResult>("/api/search", { ...params, size: PAGE, offset: 0 }, abort.signal),
      getJSON<Histogram>("/api/histogram", params, abort.signal),
      getJSON<{ fields: FieldInfo[] }>("/api/fields", params, abort.signal),
    ]);
    loadedKey = key;
    hits = res.hits;
    total = res.total;
    liveCount = 0;
    table.header(state.cols);
    table.rows(hits, state.cols);
    updateSummary(res.took_ms);
    notIndexed = new Set(fields.fields.filter((f) => f.indexed === false).map((f) => f.name));
    sidebar.setFields(fields.fields, state.cols);
    chart.render(hist, ...chartRange(hist));
  } catch (e) {
    if (abort.signal.aborted) return;
    loadedKey = key; // an error is this query's answer too; Search or Refresh asks again
    hits = [];
    total = 0;
    table.header(state.cols);
    table.clear();
    updateSummary(null);
    sidebar.setFields([], state.cols);
    chart.render({ interval_ms: 1000, buckets: [] }, ...chartRange(null));
    showError(e);
  } finally {
    if (searchAbort === abort) document.body.classList.remove("loading");
  }
}

/** The x range of the chart: the query's range even where nothing matched. */
function chartRange(hist: Histogram | null): [number, number] {
  const now = Date.now();
  const from = resolve(state.from, now) ?? hist?.buckets[0]?.t ?? now - 900_000;
  return [from, resolve(state.to, now) ?? now];
}

function updateSummary(took: number | null): void {
  byId("hit-count").textContent = `${total.toLocaleString("en")} hits`;
  byId("took").textContent = took === null ? "" : `in ${took} ms`;
  byId("live-count").textContent = liveCount ? `+${liveCount} live` : "";
  byId("range-label").textContent = describeRange(state.from, state.to);
  more.hidden = hits.length >= total || hits.length === 0;
}

more.addEventListener("click", async () => {
  try {
    const res = await getJSON<SearchResult>("/api/search",
      { ...range(), size: PAGE, offset: hits.length - liveCount });
    hits.push(...res.hits);
    table.rows(res.hits, state.cols, { append: true });
    total = res.total + liveCount;
    updateSummary(res.took_ms);
  } catch (e) {
    showError(e);
  }
});

// ---- live tail (Server-Sent Events) ----------------------------------------------------------------------

function syncTail(): void {
  const key = state.live ? state.q : "";
  if (state.live && tail && key === tailKey) return;
  tail?.close();
  tail = null;
  delete document.body.dataset.tail;
  tailKey = "";
  document.body.classList.toggle("tailing", state.live);
  if (!state.live) return;
  tailKey = key;
  const source = new EventSource(apiUrl("/api/tail", { q: state.q }, true));
  source.onopen = () => {
    document.body.classList.remove("tail-broken");
    document.body.dataset.tail = "open"; // the server has chosen its cursor: later lines will come
  };
  source.onerror = () => document.body.classList.add("tail-broken");
  source.onmessage = (ev) => {
    let hit: Hit;
    try {
      hit = JSON.parse(ev.data) as Hit;
    } catch {
      return;
    }
    hits.unshift(hit);
    if (hits.length > LIVE_MAX_ROWS) hits.length = LIVE_MAX_ROWS;
    liveCount++;
    total++;
    table.rows([hit], state.cols, { prepend: true, live: true });
    table.trim(LIVE_MAX_ROWS);
    chart.bump(hit.time, state.to === "now");
    updateSummary(null);
  };
  tail = source;
}

byId<HTMLInputElement>("live").addEventListener("change", (ev) => {
  navigate({ live: (ev.target as HTMLInputElement).checked });
});

// ---- context view ------------------------------------------------------------------------------------------

function sourceName(hit: Hit): string {
  return hit.source ?? "";
}

function contextRow(hit: Hit, cls: string): HTMLElement {
  const msg = h("td", { class: "msg" });
  msg.append(...highlighted(hit.message, cls === "anchor" ? hit.highlight : undefined));
  return h("tr", { class: cls, "data-id": hit.id }, h("td", { class: "time" }, formatTime(hit.time)), msg);
}

async function showContext(): Promise<void> {
  const box = byId("context");
  const results = byId("results");
  if (state.ctx === null) {
    box.hidden = true;
    results.hidden = false;
    contextKey = "";
    return;
  }
  results.hidden = true;
  box.hidden = false;
  const key = JSON.stringify([state.ctx, state.before, state.after]);
  if (key === contextKey) return;
  contextKey = key;
  const body = byId<HTMLTableElement>("context-rows").tBodies[0];
  body.replaceChildren(h("tr", {}, h("td", { class: "muted" }, "loading…")));
  try {
    const ctx = await getJSON<ContextResult>(`/api/context/${encodeURIComponent(state.ctx)}`,
      { before: state.before, after: state.after });
    if (contextKey !== key) return;
    byId("context-title").textContent =
      `${ctx.before.length} lines before and ${ctx.after.length} after ${formatTime(ctx.hit.time)}` +
      (sourceName(ctx.hit) ? ` in ${sourceName(ctx.hit)}` : "") + " (file order)";
    body.replaceChildren(
      ...ctx.before.map((x) => contextRow(x, "before")),
      contextRow(ctx.hit, "anchor"),
      ...ctx.after.map((x) => contextRow(x, "after")));
    body.querySelector("tr.anchor")?.scrollIntoView({ block: "center" });
  } catch (e) {
    if (contextKey !== key) return;
    body.replaceChildren(h("tr", {}, h("td", { class: "error" }, (e as Error).message)));
  }
}

byId("context-close").addEventListener("click", () => navigate({ ctx: null }));
byId("context-earlier").addEventListener("click", () => navigate({ before: Math.min(1000, state.before + 10) }));
byId("context-later").addEventListener("click", () => navigate({ after: Math.min(1000, state.after + 10) }));

// ---- query bar and time picker ---------------------------------------------------------------------------

byId<HTMLFormElement>("query-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  if (!navigate({ q: queryInput.value, ctx: null })) void render(true);
});

queryInput.addEventListener("input", () => {
  queryInput.classList.remove("invalid");
});

document.addEventListener("keydown", (ev) => {
  if (ev.key === "/" && document.activeElement?.tagName !== "INPUT") {
    ev.preventDefault();
    queryInput.focus();
  }
  if (ev.key === "Escape") byId("time-popover").hidden = true;
});

const popover = byId("time-popover");
byId("time-presets").append(...PRESETS.map((p) => {
  const b = h("button", { type: "button", "data-from": p.from }, p.label);
  b.addEventListener("click", () => {
    popover.hidden = true;
    navigate({ from: p.from, to: "now", ctx: null });
  });
  return b;
}));

byId("time-button").addEventListener("click", () => {
  const now = Date.now();
  byId<HTMLInputElement>("time-from").value = toInputValue(resolve(state.from, now) ?? now - 900_000);
  byId<HTMLInputElement>("time-to").value = toInputValue(resolve(state.to, now) ?? now);
  popover.hidden = !popover.hidden;
});

byId("time-apply").addEventListener("click", () => {
  const from = fromInputValue(byId<HTMLInputElement>("time-from").value);
  const to = fromInputValue(byId<HTMLInputElement>("time-to").value);
  if (from === null || to === null || to <= from) return;
  popover.hidden = true;
  navigate({ from: String(from), to: String(to + 999), ctx: null }); // the "to" second is included
});

document.addEventListener("click", (ev) => {
  if (!(ev.target as HTMLElement).closest(".time-wrap")) popover.hidden = true;
});

// ---- token and store stats ---------------------------------------------------------------------------------

byId<HTMLFormElement>("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  setToken(byId<HTMLInputElement>("token-input").value.trim());
  byId("token-banner").hidden = true;
  void render(true);
});

async function refreshStats(): Promise<void> {
  try {
    const s = await getJSON<Stats>("/api/stats");
    const span = byId("stats");
    span.textContent = `${compact(s.docs)} docs · ${bytes(s.bytes)} · ${compact(s.ingest_rate)}/s`;
    span.title = `Store: ${s.docs.toLocaleString("en")} documents, ${s.bytes.toLocaleString("en")} bytes on disk, ` +
      `ingesting ${s.ingest_rate.toFixed(1)} lines/s` +
      (s.oldest ? `; oldest ${formatTime(s.oldest)}` : "") + (s.newest ? `, newest ${formatTime(s.newest)}` : "");
  } catch {
    byId("stats").textContent = "";
  }
}

/** A token given in the link is kept for this browser and taken out of the address, so links shared from
 *  the address bar do not carry it. */
function adoptTokenFromUrl(): void {
  const p = new URLSearchParams(location.search);
  const t = p.get("token");
  if (!t) return;
  setToken(t);
  p.delete("token");
  const qs = p.toString();
  history.replaceState(null, "", `${location.pathname}${qs ? `?${qs}` : ""}`);
}

adoptTokenFromUrl();
state = parseState(location.search);
history.replaceState(null, "", `${location.pathname}${stateQuery(state)}`); // one spelling per view
void render();
void refreshStats();
setInterval(() => void refreshStats(), STATS_EVERY_MS);
