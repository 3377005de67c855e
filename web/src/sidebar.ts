// The field sidebar: fields of the matching documents, chosen ones on top; a click on a field shows its
// top values for the current query with absolute counts, each with filter-in (+) and filter-out (−).

import type { FieldInfo, TopValues } from "./api";
import { compact, h } from "./dom";
import { NOT_INDEXED_TITLE } from "./table";

export interface SidebarActions {
  top(field: string): Promise<TopValues>;
  filterIn(field: string, value: unknown): void;
  filterOut(field: string, value: unknown): void;
  toggleColumn(field: string): void;
}

function label(v: unknown): string {
  if (v === null || v === undefined) return "(empty)";
  return typeof v === "string" ? (v === "" ? "(empty string)" : v) : JSON.stringify(v);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

export class Sidebar {
  private fields: FieldInfo[] = [];
  private cols: string[] = [];
  private open = new Set<string>();

  constructor(
    private readonly selected: HTMLElement,
    private readonly available: HTMLElement,
    private readonly filterBox: HTMLInputElement,
    private readonly actions: SidebarActions,
  ) {
    filterBox.addEventListener("input", () => this.draw());
  }

  /** New field list (new search): open panels are reloaded for the new query. */
  setFields(fields: FieldInfo[], cols: string[]): void {
    this.fields = fields.filter((f) => f.type !== "time"); // time is the table's first column already
    this.cols = cols;
    this.draw();
  }

  setColumns(cols: string[]): void {
    this.cols = cols;
    this.draw();
  }

  private draw(): void {
    const needle = this.filterBox.value.trim().toLowerCase();
    const names = new Set(this.fields.map((f) => f.name));
    const chosen = this.cols.map((c) => this.fields.find((f) => f.name === c) ?? { name: c, type: "?" });
    const rest = this.fields.filter((f) => !this.cols.includes(f.name) && f.name.toLowerCase().includes(needle));
    this.selected.replaceChildren(...chosen.map((f) => this.item(f, true, names.has(f.name))));
    this.available.replaceChildren(...rest.map((f) => this.item(f, false, true)));
  }

  private item(f: FieldInfo, chosen: boolean, known: boolean): HTMLElement {
    const name = h("button", { type: "button", class: "field-name", title: `${f.name}: top values` },
      h("span", { class: `type type-${f.type}` }, f.type.slice(0, 3)), f.name);
    const col = h("button", { type: "button", class: "field-col", title: chosen ? "Remove column" : "Add column" },
      chosen ? "remove" : "add");
    const cls = `field${known ? "" : " missing"}${f.indexed === false ? " stored-only" : ""}`;
    const li = h("li", { class: cls, "data-field": f.name }, name, col);
    col.addEventListener("click", () => this.actions.toggleColumn(f.name));
    name.addEventListener("click", () => {
      if (this.open.has(f.name)) {
        this.open.delete(f.name);
        li.querySelector(".top")?.remove();
      } else {
        this.open.add(f.name);
        void this.loadTop(li, f.name);
      }
    });
    if (this.open.has(f.name)) void this.loadTop(li, f.name);
    return li;
  }

  private async loadTop(li: HTMLElement, field: string): Promise<void> {
    const box = h("div", { class: "top" }, h("span", { class: "muted" }, "loading…"));
    li.querySelector(".top")?.remove();
    li.append(box);
    if (this.fields.find((f) => f.name === field)?.type === "text") {
      box.replaceChildren(h("span", { class: "muted" }, "Full text: search words or \"phrases\" in it; " +
        "top values are for keyword and number fields."));
      return;
    }
    try {
      const top = await this.actions.top(field);
      const rows = top.values.map((v) => {
        const base = top.sampled ?? top.total;
        const pct = base > 0 ? (100 * v.count) / base : 0;
        const off = this.fields.find((f) => f.name === field)?.indexed === false;
        const plus = h("button", { type: "button", class: "fin", disabled: off,
          title: off ? `${field}: ${NOT_INDEXED_TITLE}` : "Filter for this value" }, "+");
        const minus = h("button", { type: "button", class: "fout", disabled: off,
          title: off ? `${field}: ${NOT_INDEXED_TITLE}` : "Filter out this value" }, "\u2212");
        plus.addEventListener("click", () => this.actions.filterIn(field, v.value));
        minus.addEventListener("click", () => this.actions.filterOut(field, v.value));
        return h("li", { class: "top-value", title: `${v.count} of ${base}` },
          h("span", { class: "v" }, label(v.value)),
          h("span", { class: "n" }, compact(v.count)),
          plus, minus,
          h("span", { class: "bar", style: `width:${pct.toFixed(1)}%` }));
      });
      box.replaceChildren(
        h("div", { class: "muted" }, top.sampled === undefined
          ? `Top ${plural(top.values.length, "value")} in ${top.total.toLocaleString("en")} documents`
          : `Top ${plural(top.values.length, "value")} in the newest ${top.sampled.toLocaleString("en")} of ` +
            `${top.total.toLocaleString("en")} documents (not indexed: counted, not looked up)`),
        h("ul", {}, ...rows));
    } catch (e) {
      box.replaceChildren(h("span", { class: "error" }, String((e as Error).message)));
    }
  }
}
