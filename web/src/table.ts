// The results table: time plus the chosen columns (the message when none are chosen), matches marked,
// and a row that opens to show the whole document as JSON with its actions.

import type { Hit } from "./api";
import { h } from "./dom";
import { formatTime } from "./time";

export interface RowActions {
  context(hit: Hit): void;
  filterIn(field: string, value: unknown): void;
  filterOut(field: string, value: unknown): void;
  toggleColumn(field: string): void;
}

/** A field's value; dotted names also walk nested objects (kubernetes.labels.app). */
export function fieldValue(hit: Hit, name: string): unknown {
  if (name === "message") return hit.message;
  if (name === "time" || name === "@timestamp") return hit.time;
  const direct = hit.fields?.[name];
  if (direct !== undefined) return direct;
  let cur: unknown = hit.fields;
  for (const part of name.split(".")) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function display(v: unknown): string {
  if (v === undefined || v === null) return "";
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** The message with the server's match ranges (character offsets, end exclusive) wrapped in <mark>. */
export function highlighted(message: string, ranges: [number, number][] | undefined): Node[] {
  if (!ranges || ranges.length === 0) return [document.createTextNode(message)];
  const chars = Array.from(message);
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: Node[] = [];
  let pos = 0;
  for (const [start, end] of sorted) {
    const s = Math.max(pos, Math.min(start, chars.length));
    const e = Math.max(s, Math.min(end, chars.length));
    if (s > pos) out.push(document.createTextNode(chars.slice(pos, s).join("")));
    if (e > s) out.push(h("mark", {}, chars.slice(s, e).join("")));
    pos = e;
  }
  if (pos < chars.length) out.push(document.createTextNode(chars.slice(pos).join("")));
  return out;
}

function cell(hit: Hit, col: string): HTMLTableCellElement {
  if (col === "message") {
    const td = h("td", { class: "msg" });
    td.append(...highlighted(hit.message, hit.highlight));
    return td;
  }
  return h("td", { "data-col": col }, display(fieldValue(hit, col)));
}

function details(hit: Hit, cols: string[], actions: RowActions): HTMLElement {
  const doc = { time: hit.time, message: hit.message, ...hit.fields };
  const rows = Object.entries(doc).map(([k, v]) => {
    const chosen = cols.includes(k);
    const buttons = k === "time" ? [] : [
      h("button", { type: "button", class: "fin", title: `Filter for ${k}`, "data-field": k }, "+"),
      h("button", { type: "button", class: "fout", title: `Filter out ${k}`, "data-field": k }, "\u2212"),
      h("button", { type: "button", class: "fcol", title: chosen ? "Remove column" : "Add column",
        "data-field": k }, chosen ? "\u25a3" : "\u25a1"),
    ];
    const tr = h("tr", {}, h("th", {}, k), h("td", { class: "acts" }, ...buttons),
      h("td", {}, k === "time" ? `${formatTime(hit.time)} (${hit.time})` : display(v)));
    for (const b of buttons) {
      b.addEventListener("click", (ev) => {
        ev.stopPropagation();
        if (b.classList.contains("fin")) actions.filterIn(k, v);
        else if (b.classList.contains("fout")) actions.filterOut(k, v);
        else actions.toggleColumn(k);
      });
    }
    return tr;
  });
  const ctx = h("button", { type: "button", class: "ctx-open" }, "View surrounding lines");
  ctx.addEventListener("click", () => actions.context(hit));
  return h("div", { class: "doc" },
    h("div", { class: "doc-bar" }, ctx, h("span", { class: "doc-id" }, `id ${hit.id}`)),
    h("table", { class: "doc-fields" }, h("tbody", {}, ...rows)),
    h("pre", { class: "json" }, JSON.stringify({ id: hit.id, ...doc }, null, 2)));
}

export class ResultsTable {
  constructor(private readonly table: HTMLTableElement, private readonly actions: RowActions) {}

  private columns(cols: string[]): string[] {
    return cols.length ? cols : ["message"];
  }

  header(cols: string[]): void {
    const thead = this.table.tHead!;
    const ths = this.columns(cols).map((c) => {
      const th = h("th", { "data-col": c }, c);
      if (cols.length) {
        const x = h("button", { type: "button", class: "col-remove", title: `Remove column ${c}` }, "\u00d7");
        x.addEventListener("click", () => this.actions.toggleColumn(c));
        th.append(" ", x);
      }
      return th;
    });
    thead.replaceChildren(h("tr", {}, h("th", { class: "caret" }), h("th", { class: "time" }, "Time"), ...ths));
  }

  /** One row per hit; `prepend` puts live-tail rows on top. */
  rows(hits: Hit[], cols: string[], opts: { append?: boolean; prepend?: boolean; live?: boolean } = {}): void {
    const body = this.table.tBodies[0];
    const frag = document.createDocumentFragment();
    const shown = this.columns(cols);
    for (const hit of hits) {
      const tr = h("tr", { class: opts.live ? "hit live-row" : "hit", "data-id": hit.id },
        h("td", { class: "caret" }, "\u25b8"),
        h("td", { class: "time" }, formatTime(hit.time)),
        ...shown.map((c) => cell(hit, c)));
      tr.addEventListener("click", (ev) => {
        if ((ev.target as HTMLElement).closest("button, a")) return;
        this.toggle(tr, hit, cols);
      });
      frag.append(tr);
    }
    if (opts.prepend) body.prepend(frag);
    else if (opts.append) body.append(frag);
    else body.replaceChildren(frag);
  }

  private toggle(tr: HTMLTableRowElement, hit: Hit, cols: string[]): void {
    const next = tr.nextElementSibling;
    if (next && next.classList.contains("detail")) {
      next.remove();
      tr.classList.remove("open");
      return;
    }
    tr.classList.add("open");
    const td = h("td", { colspan: tr.cells.length });
    td.append(details(hit, cols, this.actions));
    tr.after(h("tr", { class: "detail" }, td));
  }

  /** Keep at most `max` hit rows (live tail grows from the top). */
  trim(max: number): void {
    const rows = this.table.tBodies[0].querySelectorAll("tr.hit");
    for (let i = max; i < rows.length; i++) {
      const next = rows[i].nextElementSibling;
      if (next && next.classList.contains("detail")) next.remove();
      rows[i].remove();
    }
  }

  clear(): void {
    this.table.tBodies[0].replaceChildren();
  }
}
