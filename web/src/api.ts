// The search API client: JSON over fetch, the token as a bearer header (or ?token= where a header cannot
// be set: EventSource and download links).

export interface Hit {
  id: string;
  time: number;
  message: string;
  fields: Record<string, unknown>;
  highlight?: [number, number][];
  tag?: string;
  source?: string; // the file (or stream) the line came from: context is taken within it
  offset?: number; // byte offset in that file (-1 when the input has none)
}

export interface SearchResult { total: number; took_ms: number; hits: Hit[] }
export interface Histogram { interval_ms: number; buckets: { t: number; count: number }[] }
/** `indexed: false`: kept in the document but not searchable (the store's `fields` option indexes it). */
export interface FieldInfo { name: string; type: string; indexed?: boolean }
export interface TopValues {
  field: string;
  total: number;
  values: { value: unknown; count: number }[];
  sampled?: number; // set when counted over the newest N matches (a field the store keeps but does not index)
}
export interface ContextResult { before: Hit[]; hit: Hit; after: Hit[] }
export interface Stats { docs: number; bytes: number; ingest_rate: number; oldest: number | null; newest: number | null }

/** An answer other than 2xx; `position` is where a query's syntax error is, when the server knows. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly position: number | null) {
    super(message);
  }
}

const TOKEN_KEY = "podlog.token";

export function getToken(): string | null {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(token: string): void {
  try {
    localStorage.setItem(TOKEN_KEY, token);
  } catch {
    // private mode: the token then lives only as long as the page
  }
  memoryToken = token;
}

let memoryToken: string | null = null;

function token(): string | null {
  return memoryToken ?? getToken();
}

type Params = Record<string, string | number | undefined | null>;

/** A same-origin API URL; with `withToken` the token rides in the query string. */
export function apiUrl(path: string, params: Params = {}, withToken = false): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") p.set(k, String(v));
  }
  const t = token();
  if (withToken && t) p.set("token", t);
  const qs = p.toString();
  return qs ? `${path}?${qs}` : path;
}

export async function getJSON<T>(path: string, params: Params = {}, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  const resp = await fetch(apiUrl(path, params), { headers, signal });
  const text = await resp.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!resp.ok) {
    const b = (body ?? {}) as { error?: unknown; position?: unknown };
    const message = typeof b.error === "string" ? b.error : `${resp.status} ${resp.statusText || "error"}`;
    const position = typeof b.position === "number" ? b.position : null;
    throw new ApiError(resp.status, message, position);
  }
  return body as T;
}
