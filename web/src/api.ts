// The one fetch wrapper for /api/v1: JSON in and out, the session cookie, the
// CSRF header on unsafe methods, and errors as ApiError with the server's code.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface PersonRef {
  id: string;
  name: string;
}

export interface User {
  name: string;
  role: 'admin' | 'viewer' | string;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

// What a time was read from: a camera's clock, or a file (docs/sighting-schema.md).
export type CaptureClock =
  | 'camera'
  | 'file_start_plus_offset'
  | 'file_modified'
  | 'replay_start_plus_offset';

// A short label and an explanation for a time not read from a camera's clock; null for one that was.
export function captureClockLabel(clock: CaptureClock | null | undefined): [string, string] | null {
  switch (clock) {
    case 'file_start_plus_offset':
      return ['file time', "From a video file: the file's start time plus the frame's offset, not a camera's clock"];
    case 'file_modified':
      return ['file time', 'From a photo file: the time the file was last saved, not a camera clock'];
    case 'replay_start_plus_offset':
      return ['replay time', "From a video replayed in real time: when the replay began plus the frame's offset"];
    default:
      return null;
  }
}

export interface Visit {
  id: number | string;
  site: string;
  camera?: string;
  person: PersonRef | string | null;
  started: string;
  last: string;
  started_ms: number;
  last_ms: number;
  capture_clock?: CaptureClock | null;
  sightings: number;
  best_sighting_id?: string | null;
  image_url?: string | null;
}

export interface Sighting {
  id: string;
  camera: string;
  site: string;
  time: string;
  captured_ms: number;
  capture_clock?: CaptureClock | null;
  person: PersonRef | string | null;
  similarity: number | null;
  decision: string;
  visit: number | string | null;
  image_url?: string | null;
}

export interface UnknownCluster {
  id: number | string;
  site: string;
  sightings: number;
  first: string;
  last: string;
  first_ms?: number;
  last_ms?: number;
  best_sighting_id?: string | null;
  image_url?: string | null;
  state: string;
  person: PersonRef | string | null;
}

export interface PersonPreferences {
  greeting: 'usual' | 'muted' | 'once_a_day';
  alerts: 'none' | 'strangers';
  host: string | null;
}

export interface Person {
  id: string;
  name: string;
  external_id?: string | null;
  faces: number;
  thumbnail_url?: string | null;
  preferences?: PersonPreferences;
  created: string;
  created_ms?: number;
}

export interface Face {
  id: string;
  quality: Record<string, unknown> | number | null;
  origin: string;
  created: string;
  created_ms?: number;
  image_url?: string | null;
}

export interface EnrolResult {
  file: string;
  accepted: boolean;
  face_id?: string;
  quality?: Record<string, unknown>;
  reasons?: string[];
}

export interface Camera {
  name: string;
  site: string;
  source_kind: string;
  state: string;
  fps: number;
  frames: number;
  faces: number;
  last_frame: string | null;
  last_frame_ms: number | null;
  error: string | null;
}

export interface AuditEntry {
  id: number | string;
  at: string;
  at_ms: number;
  actor: string;
  action: string;
  target: string;
  detail: unknown;
}

export interface ApiToken {
  id: string | number;
  name: string;
  created?: string;
  created_ms?: number;
  last_used?: string | null;
  token?: string;
}

let csrfToken = '';
let onUnauthorized: () => void = () => {};

// Remembers the CSRF token from login or /me; sent on every unsafe call.
export function setCsrfToken(token: string): void {
  csrfToken = token;
}

// Called when a request answers 401 (the session ended): the app shows the login.
export function setUnauthorizedHandler(handler: () => void): void {
  onUnauthorized = handler;
}

type Body = FormData | Blob | object | undefined;

// Calls the API. Needs a path under /api/v1 (or /healthz); returns the parsed
// JSON (undefined for 204) or throws ApiError with the server's error code.
export async function api<T>(method: string, path: string, body?: Body): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = csrfToken;
  let payload: BodyInit | undefined;
  if (body instanceof FormData || body instanceof Blob) {
    payload = body;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let response: Response;
  try {
    response = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' });
  } catch {
    throw new ApiError(0, 'network', 'The server cannot be reached.');
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let data: unknown = undefined;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
  }
  if (!response.ok) {
    const error = (data as { error?: { code?: string; message?: string } } | undefined)?.error;
    const apiError = new ApiError(
      response.status,
      error?.code ?? 'http_' + response.status,
      error?.message ?? `${response.status} ${response.statusText}`,
    );
    if (response.status === 401 && path !== '/api/v1/login') onUnauthorized();
    throw apiError;
  }
  return data as T;
}

// Builds "path?k=v&..." skipping empty values.
export function withQuery(path: string, query: Record<string, string | number | boolean | null | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === null || value === undefined || value === '' || value === false) continue;
    params.set(key, String(value));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

// The display name of a person field that is either {id,name}, an id, or null.
export function personName(person: PersonRef | string | null | undefined): string | null {
  if (!person) return null;
  return typeof person === 'string' ? person : person.name || person.id;
}

// The id of such a person field.
export function personId(person: PersonRef | string | null | undefined): string | null {
  if (!person) return null;
  return typeof person === 'string' ? person : person.id;
}

// A same-origin image URL: the API's image_url, or, when the answer has no
// image_url at all, one built from a sighting id. null means there is no
// picture (deleted, or never kept in embeddings-only mode): show a placeholder.
// Only relative URLs are used, so an image never leaves the authenticated origin.
export function imageUrl(url: string | null | undefined, sightingId?: string | null): string | null {
  if (url && url.startsWith('/')) return url;
  if (url === undefined && sightingId) return `/api/v1/sightings/${encodeURIComponent(sightingId)}/image`;
  return null;
}

// Every item of a paged list, following next_cursor (for small lists such as people).
export async function listAll<T>(path: string): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  do {
    const page: Page<T> | T[] = await api<Page<T> | T[]>('GET', withQuery(path, { limit: 500, cursor }));
    if (Array.isArray(page)) return page;
    items.push(...page.items);
    cursor = page.next_cursor ?? null;
  } while (cursor);
  return items;
}
