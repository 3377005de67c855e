// Query text helpers: filters added from the sidebar and the mark under a syntax error.

import { h } from "./dom";

/** `field:"value"` with the value quoted as a Lucene phrase. */
export function term(field: string, value: unknown): string {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  const quoted = text.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
  const name = field.replace(/([\\:\s()[\]{}"])/g, "\\$1");
  return `${name}:"${quoted}"`;
}

/** The query with one more clause ANDed on; an OR at the top level is bracketed first. */
export function addClause(q: string, clause: string): string {
  const base = q.trim();
  if (base === "" || base === "*") return clause;
  if (base.includes(clause)) return base; // clicking the same filter twice changes nothing
  const wrapped = /\bOR\b/.test(base) ? `(${base})` : base;
  return `${wrapped} AND ${clause}`;
}

export function filterIn(q: string, field: string, value: unknown): string {
  return addClause(q, term(field, value));
}

export function filterOut(q: string, field: string, value: unknown): string {
  return addClause(q, `NOT ${term(field, value)}`);
}

/**
 * The error under the query bar: the message, then the query with the character at `position` marked
 * (a visible space when the error is at the end, e.g. an unclosed quote).
 */
export function renderQueryError(box: HTMLElement, q: string, message: string, position: number | null): void {
  box.replaceChildren(h("span", { class: "err-msg" }, message));
  if (position !== null && position >= 0) {
    const chars = Array.from(q); // positions count characters, not UTF-16 units
    const at = Math.min(position, chars.length);
    const marked = at < chars.length ? chars[at] : "\u2423";
    box.append(
      h("code", { class: "err-query" },
        chars.slice(0, at).join(""),
        h("mark", { class: "err-at", title: `position ${position}` }, marked),
        chars.slice(at + 1).join("")),
    );
  }
  box.hidden = false;
}
