// The results table: time plus the chosen columns (the message when none are chosen), matches marked,
// and a row that opens to show the whole document as JSON with its actions.

import type { Hit } from "./api";
import { h } from "./dom";
import { formatTime } from "./time";

export const NOT_INDEXED_TITLE = "not indexed, so not searchable (the store output's fields option indexes it)";

export interface RowActions {
  /** False for a field the store keeps but does not index (a filter on it would be refused). */
  searchable(field: string): boolean;
  context(hit: Hit): void;
  filterIn(field: string, value: unknown): void;
  filterOut(field: string, value: unknown): void;
  toggleColumn(field: string): void;
}

// The store's short names for Kubernetes and level fields -> where a record keeps them (as the server's
// CSV export reads them).
const RECORD_PATHS: Record<string, string[]> = {
  namespace: ["kubernetes.namespace_name", "namespace"],
  pod: ["kubernetes.pod_name", "pod"],
  container: ["kubernetes.container_name", "container"],
  node: ["kubernetes.host", "node", "host"],
  level: ["level", "severity", "log_level", "loglevel"],
};

function walk(obj: unknown, path: string): unknown {
  if (obj && typeof obj === "object" && path in (obj as Record<string, unknown>)) {
    return (obj as Record<string, unknown>)[path];
  }
  let cur: unknown = obj;
  for (const part of path.split(".")) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** A field's value in a hit: the store's names (pod, labels.app, source), else a record path. */
export function fieldValue(hit: Hit, name: string): unknown {
  if (name === "message") return hit.message;
  if (name === "time" || name === "@timestamp") return hit.time;
  if (name === "source" || name === "tag" || name === "offset" || name === "id") return hit[name];
  const paths = RECORD_PATHS[name] ?? (name.startsWith("labels.") ? [`kubernetes.${name}`, name] : [name]);
  for (const path of paths) {
    const v = walk(hit.fields, path);
    if (v !== undefined && v !== null) return v;
  }
  return undefined;
}

/** Leaf fields of a record as dotted names (the names the query language takes). */
export function flatten(obj: Record<string, unknown>, prefix = ""): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (const [k, v] of Object.entries(obj ?? {})) {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      out.push(...flatten(v as Record<string, unknown>, `${prefix}${k}.`));
    } else {
      out.push([`${prefix}${k}`, v]);
    }
  }
  return out;
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

function fieldRow(name: string, value: unknown, cols: string[], actions: RowActions): HTMLElement {
  const chosen = cols.includes(name);
  const off = !actions.searchable(name);
  const buttons = [
    h("button", { type: "button", class: "fin", title: off ? `${name}: ${NOT_INDEXED_TITLE}` : `Filter for ${name}`,
      disabled: off }, "+"),
    h("button", { type: "button", class: "fout", title: off ? `${name}: ${NOT_INDEXED_TITLE}` : `Filter out ${name}`,
      disabled: off }, "\u2212"),
    h("button", { type: "button", class: "fcol", title: chosen ? "Remove column" : "Add column" },
      chosen ? "\u25a3" : "\u25a1"),
  ];
  buttons[0].addEventListener("click", () => actions.filterIn(name, value));
  buttons[1].addEventListener("click", () => actions.filterOut(name, value));
  buttons[2].addEventListener("click", () => actions.toggleColumn(name));
  return h("tr", { "data-field": name }, h("th", {}, name), h("td", { class: "acts" }, ...buttons),
    h("td", {}, display(value)));
}

/** The opened row: every field with filter and column buttons, the context button, and the raw JSON. */
function details(hit: Hit, cols: string[], actions: RowActions): HTMLElement {
  const rows: HTMLElement[] = [
    h("tr", {}, h("th", {}, "time"), h("td", { class: "acts" }), h("td", {}, `${formatTime(hit.time)} (${hit.time})`)),
  ];
  for (const [name, value] of flatten(hit.fields)) {
    if (name === "time" || name === "@timestamp") continue;
    rows.push(fieldRow(name, value, cols, actions));
  }
  if (hit.source !== undefined) rows.push(fieldRow("source", hit.source, cols, actions));
  const ctx = h("button", { type: "button", class: "ctx-open" }, "View surrounding lines");
  ctx.addEventListener("click", () => actions.context(hit));
  const where = hit.source ? `${hit.source}${hit.offset !== undefined && hit.offset >= 0 ? ` @ ${hit.offset}` : ""}` : "";
  const { highlight: _ignored, ...doc } = hit;
  return h("div", { class: "doc" },
    h("div", { class: "doc-bar" }, ctx, h("span", { class: "doc-id" }, `id ${hit.id}${where ? ` · ${where}` : ""}`)),
    h("table", { class: "doc-fields" }, h("tbody", {}, ...rows)),
    h("pre", { class: "json" }, JSON.stringify(doc, null, 2)));
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
      tr.cells[0].textContent = "\u25b8";
      return;
    }
    tr.classList.add("open");
    tr.cells[0].textContent = "\u25be";
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
