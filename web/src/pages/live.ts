// Live: every camera with its MJPEG preview (face boxes drawn by the server)
// and its status, refreshed every few seconds. When a stream breaks or ends
// (server restart, network), the last good frame stays up marked "last frame
// 12 s ago" while the stream is retried with backoff; the next frame clears it.
// Admins also add network cameras here ("Test connection" shows a snapshot or
// why not), and edit or remove the ones kept in the config file; a camera's
// password only ever comes back masked (user:***@), and sent back so it is kept.

import { api, type Camera, type Page } from '../api';
import { confirmDialog, errorBox, formatAge, formatValue, h, loading, replace } from '../dom';
import { isAdmin } from '../session';

const REFRESH_MS = 5000;
const TICK_MS = 1000; // ages the stale mark, checks a retry
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30_000;
const STALL_MS = 10_000; // no part for this long (the server resends every 2 s): broken

// What GET /api/v1/cameras adds for the cameras of the config file.
interface ListedCamera extends Camera {
  url?: string; // network cameras only, the password masked as user:***@
  editable?: boolean; // a network camera of edge.cameras: the API may change it
}

// The answer to adding, changing or removing a camera.
interface CameraChange {
  camera: ListedCamera;
  applied: boolean; // false: saved for the next start; `message` says why
  message: string;
}

// The answer to POST /api/v1/cameras/test.
interface ConnectionTest {
  ok: boolean;
  width: number | null;
  height: number | null;
  preview: string | null; // a JPEG data: URL
  error: string | null;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// What a saved change did: in effect now, or (under `serve`, or when the
// camera reader could not take it) waiting for the next start, and why.
function changeOutcome(reply: CameraChange, done: string, inEffect: string): string {
  if (reply.applied) return `${done}; ${inEffect}.`;
  const why = reply.message.replace(/^saved;\s*/, '');
  return /next start/.test(why)
    ? `${done} in the config file; ${why}.`
    : `${done} in the config file; not applied now (${why}), so it takes effect at the next start.`;
}

// A camera of the config file that this process does not read (GET /cameras).
const NOT_RUNNING = 'not running';

function stateClass(state: string): string {
  if (state === NOT_RUNNING) return 'badge';
  if (/run|ok|live|active/i.test(state)) return 'badge badge-ok';
  if (/err|fail|stop/i.test(state)) return 'badge badge-bad';
  return 'badge';
}

function previewUrl(name: string): string {
  return `/api/v1/cameras/${encodeURIComponent(name)}/preview.mjpg`;
}

// "12 s ago" from a local time.
function agoText(ms: number): string {
  const seconds = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return seconds < 120 ? `${seconds} s ago` : `${Math.round(seconds / 60)} min ago`;
}

const HEAD_END = [13, 10, 13, 10]; // the blank line after a part's headers

function indexOfHeadEnd(buf: Uint8Array): number {
  for (let i = 0; i + 3 < buf.length; i++)
    if (buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10) return i;
  return -1;
}

// Reads preview.mjpg (multipart/x-mixed-replace, a Content-Length on every
// part) and hands over each JPEG. Returns when the stream ends; throws when it breaks.
async function readFrames(body: ReadableStream<Uint8Array>, onFrame: (jpeg: Blob) => void): Promise<void> {
  const reader = body.getReader();
  let buf = new Uint8Array(0);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    const joined = new Uint8Array(buf.length + value.length);
    joined.set(buf);
    joined.set(value, buf.length);
    buf = joined;
    for (;;) {
      const headEnd = indexOfHeadEnd(buf);
      if (headEnd < 0) break;
      const head = new TextDecoder().decode(buf.subarray(0, headEnd));
      const length = /content-length:\s*(\d+)/i.exec(head);
      if (!length) throw new Error('a preview part has no Content-Length');
      const start = headEnd + HEAD_END.length;
      const end = start + Number(length[1]);
      if (buf.length < end) break;
      onFrame(new Blob([buf.slice(start, end)], { type: 'image/jpeg' }));
      buf = buf.slice(end);
    }
  }
}

// One camera's picture. The stream is read here rather than by an <img>, which
// says nothing when a stream ends: so the last good frame stays up, marked
// stale, while the stream is retried with backoff, and the next frame clears it.
class Preview {
  readonly box: HTMLElement;
  readonly stale: HTMLElement; // under the box while no frames come
  private readonly img: HTMLImageElement;
  private frameUrl = '';
  private frameAt = 0; // local time of the last frame; 0: none yet
  private connected = false;
  private closed = false;
  private abort: AbortController | null = null;
  private attempt = 0;
  private retryAt = 0;

  constructor(private readonly camera: string) {
    this.img = h('img', { class: 'preview', alt: `Live preview of ${camera}`, hidden: true });
    this.stale = h('p', { class: 'badge badge-bad stale', role: 'status', hidden: true });
    // The text shows through until the first frame arrives (a drop folder has
    // one only when a photo comes in).
    this.box = h('div', { class: 'preview-box' }, h('span', {}, 'Waiting for a frame…'), this.img);
    void this.connect();
  }

  private async connect(): Promise<void> {
    const abort = new AbortController();
    this.abort = abort;
    this.connected = true;
    let lost = 'the stream ended';
    try {
      const res = await fetch(previewUrl(this.camera), { signal: abort.signal, cache: 'no-store' });
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      await readFrames(res.body, (jpeg) => this.show(jpeg));
    } catch (err) {
      lost = err instanceof Error ? err.message : String(err);
    }
    this.connected = false;
    if (this.closed || abort !== this.abort) return;
    const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** this.attempt);
    this.attempt += 1;
    this.retryAt = Date.now() + delay;
    this.stale.title = lost;
    this.markStale();
  }

  private show(jpeg: Blob): void {
    if (this.frameUrl) URL.revokeObjectURL(this.frameUrl);
    this.frameUrl = URL.createObjectURL(jpeg);
    this.img.src = this.frameUrl;
    this.img.hidden = false;
    this.frameAt = Date.now();
    this.attempt = 0;
    this.stale.hidden = true;
  }

  private markStale(): void {
    this.stale.hidden = false;
    this.stale.textContent = this.frameAt
      ? `Stream lost; last frame ${agoText(this.frameAt)}`
      : 'Stream lost; reconnecting…';
  }

  // Retries now, e.g. when the status shows the camera delivers frames again.
  retrySoon(): void {
    this.retryAt = 0;
  }

  // Called every TICK_MS: ages the stale mark, retries when due, and gives up
  // on a stream that stopped sending (the server resends a frame every 2 s).
  tick(): void {
    if (this.closed) return;
    if (this.connected) {
      if (this.frameAt && this.stale.hidden && Date.now() - this.frameAt > STALL_MS) this.abort?.abort();
      else if (!this.stale.hidden) this.markStale();
      return;
    }
    this.markStale();
    if (Date.now() >= this.retryAt) void this.connect();
  }

  // Ends the stream, freeing its server thread.
  close(): void {
    this.closed = true;
    this.abort?.abort();
    if (this.frameUrl) URL.revokeObjectURL(this.frameUrl);
  }
}

interface CameraCard {
  camera: ListedCamera; // as last listed
  article: HTMLElement;
  status: HTMLElement;
  preview: Preview | null; // null: the camera does not run here, so no picture
  lastFrameMs: number;
  shape: string; // what the card was built for; a change rebuilds it
}

export function livePage(root: HTMLElement): () => void {
  const admin = isAdmin();
  const grid = h('div', { class: 'grid grid-wide' });
  const formHost = h('div', {});
  // What the last change did; stays until the next one.
  const notice = h('div', { role: 'status' });
  const addButton =
    admin && h('button', { class: 'btn btn-primary', type: 'button', onclick: () => openForm(null) }, 'Add camera');
  const cards = new Map<string, CameraCard>();
  replace(root, h('div', { class: 'page-head' }, h('h1', {}, 'Live'), addButton), notice, formHost, grid, loading());

  function statusBlock(camera: ListedCamera): HTMLElement {
    return h(
      'div',
      {},
      h(
        'div',
        { class: 'row between' },
        h('h2', { class: 'card-title' }, camera.name),
        h('span', { class: stateClass(camera.state) }, camera.state || 'unknown'),
      ),
      h(
        'dl',
        { class: 'stats' },
        h('dt', {}, 'Site'),
        h('dd', {}, camera.site || '—'),
        h('dt', {}, 'Source'),
        h('dd', {}, camera.source_kind || '—'),
        camera.url && [h('dt', {}, 'Address'), h('dd', { class: 'camera-url' }, camera.url)],
        h('dt', {}, 'FPS'),
        h('dd', {}, formatValue(camera.fps, 1)),
        h('dt', {}, 'Frames'),
        h('dd', {}, formatValue(camera.frames)),
        h('dt', {}, 'Faces'),
        h('dd', {}, formatValue(camera.faces)),
        h('dt', {}, 'Last frame'),
        h('dd', {}, formatAge(camera.last_frame_ms)),
      ),
      camera.error && h('p', { class: 'alert' }, camera.error),
    );
  }

  function cardShape(camera: ListedCamera): string {
    return `${camera.state === NOT_RUNNING ? 'idle' : 'live'}/${admin && camera.editable ? 'editable' : 'fixed'}`;
  }

  function buildCard(camera: ListedCamera): CameraCard {
    const preview = camera.state === NOT_RUNNING ? null : new Preview(camera.name);
    const picture = preview
      ? [preview.box, preview.stale]
      : h(
          'div',
          { class: 'preview-box' },
          h(
            'p',
            { class: 'not-running' },
            'Not running in this process, so there is no picture here: ',
            h('code', {}, 'concierge edge'),
            ' reads it, or ',
            h('code', {}, 'concierge run'),
            ' from its next start.',
          ),
        );
    const status = statusBlock(camera);
    const actions =
      admin &&
      camera.editable &&
      h(
        'div',
        { class: 'row wrap camera-actions' },
        h(
          'button',
          {
            class: 'btn btn-small',
            type: 'button',
            'aria-label': `Edit camera ${camera.name}`,
            onclick: () => openForm(cards.get(camera.name)?.camera ?? camera),
          },
          'Edit',
        ),
        h(
          'button',
          {
            class: 'btn btn-small btn-quiet',
            type: 'button',
            'aria-label': `Remove camera ${camera.name}`,
            onclick: () => void removeCamera(camera),
          },
          'Remove',
        ),
      );
    const article = h('article', { class: 'card camera', 'data-camera': camera.name }, picture, status, actions);
    return { camera, article, status, preview, lastFrameMs: camera.last_frame_ms ?? 0, shape: cardShape(camera) };
  }

  // Takes a camera's card off the page and ends its stream. Done before a
  // change restarts the camera, so the stream is not retried against a camera
  // that is gone; the next refresh brings the card back if it is still listed.
  function dropCard(name: string): void {
    const card = cards.get(name);
    if (!card) return;
    card.preview?.close();
    card.article.remove();
    cards.delete(name);
  }

  // Brings the cards in line with the list: new cameras get a card, gone ones
  // lose theirs, the rest get fresh status.
  function show(cameras: ListedCamera[]): void {
    const listed = new Set(cameras.map((c) => c.name));
    for (const name of [...cards.keys()]) if (!listed.has(name)) dropCard(name);
    for (const note of grid.querySelectorAll(':scope > :not(article)')) note.remove(); // "no cameras", a load error
    for (const camera of cameras) {
      let card = cards.get(camera.name);
      if (card && card.shape !== cardShape(camera)) {
        const rebuilt = buildCard(camera);
        card.preview?.close();
        card.article.replaceWith(rebuilt.article);
        cards.set(camera.name, rebuilt);
        continue;
      }
      if (!card) {
        card = buildCard(camera);
        cards.set(camera.name, card);
        grid.appendChild(card.article);
        continue;
      }
      const fresh = statusBlock(camera);
      card.status.replaceWith(fresh);
      card.status = fresh;
      card.camera = camera;
      // A newer frame on the server: a broken stream is worth retrying now.
      if ((camera.last_frame_ms ?? 0) > card.lastFrameMs) {
        card.lastFrameMs = camera.last_frame_ms ?? 0;
        card.preview?.retrySoon();
      }
    }
    if (!cameras.length)
      grid.appendChild(
        h(
          'p',
          { class: 'empty' },
          admin ? 'No cameras yet: add one with “Add camera”.' : 'No cameras are configured in this process.',
        ),
      );
  }

  let stopped = false;
  let loaded = false;
  // A list fetched while a change was made may be from before it: such a list is
  // not shown (it would bring back a card dropped for the change).
  let changes = 0;
  let changing = false;
  async function refresh(): Promise<void> {
    const seen = changes;
    try {
      const page = await api<Page<ListedCamera>>('GET', '/api/v1/cameras');
      if (stopped || changing || seen !== changes) return;
      show(page.items);
    } catch (err) {
      if (!stopped && !loaded) replace(grid, errorBox(err));
    } finally {
      if (!loaded) root.querySelector(':scope > p.muted')?.remove();
      loaded = true;
    }
  }

  function announce(text: string, failed = false): void {
    replace(notice, h('p', { class: failed ? 'alert' : 'alert alert-info' }, text));
  }

  // Runs a change to the cameras, then shows the list as it is after it.
  async function change(work: () => Promise<void>): Promise<void> {
    changing = true;
    changes += 1;
    try {
      await work();
    } finally {
      changing = false;
      changes += 1;
    }
    await refresh();
  }

  async function removeCamera(camera: ListedCamera): Promise<void> {
    const ok = await confirmDialog({
      title: `Remove camera ${camera.name}?`,
      message: 'It is no longer read and is deleted from the config file. Its sightings so far stay.',
      confirmLabel: 'Remove camera',
      danger: true,
    });
    if (!ok) return;
    await change(async () => {
      dropCard(camera.name);
      try {
        const reply = await api<CameraChange>('DELETE', `/api/v1/cameras/${encodeURIComponent(camera.name)}`);
        announce(changeOutcome(reply, `Removed camera ${camera.name}`, 'it has stopped'));
      } catch (err) {
        announce(`Camera ${camera.name} was not removed: ${message(err)}`, true);
      }
    });
  }

  // The form to add a camera, or (given one) to change that camera's site and
  // address; its name is fixed and its URL shows the password masked.
  function openForm(camera: ListedCamera | null): void {
    const editing = camera !== null;
    const field = (control: HTMLInputElement, label: string, help: string) => {
      control.setAttribute('aria-describedby', `${control.id}-help`);
      return h(
        'div',
        { class: 'field' },
        h('label', { for: control.id }, label),
        control,
        h('small', { class: 'muted', id: `${control.id}-help` }, help),
      );
    };
    const text = { type: 'text', autocomplete: 'off', spellcheck: 'false', maxlength: 64 };
    const name = h('input', { ...text, id: 'camera-name', required: true, readonly: editing, value: camera?.name ?? '' });
    const site = h('input', { ...text, id: 'camera-site', value: camera?.site ?? '' });
    const url = h('input', {
      ...text,
      id: 'camera-url',
      required: true,
      maxlength: 1024,
      inputmode: 'url',
      placeholder: 'rtsp://user:password@192.168.1.20/stream',
      value: camera?.url ?? '',
    });
    const testResult = h('div', { class: 'camera-test', role: 'status' });
    const formError = h('div', { role: 'alert' });
    const testButton = h('button', { class: 'btn', type: 'button' }, 'Test connection');
    const save = h('button', { class: 'btn btn-primary', type: 'submit' }, editing ? 'Save changes' : 'Save camera');
    const close = () => {
      replace(formHost);
      if (addButton) {
        addButton.hidden = false;
        addButton.focus();
      }
    };

    testButton.addEventListener('click', async () => {
      if (!url.reportValidity()) return;
      testButton.disabled = true;
      replace(testResult, h('p', { class: 'muted small' }, 'Connecting to the camera…'));
      try {
        // A masked URL is tested with the stored password, which the server finds by the name.
        const body = editing ? { name: camera.name, url: url.value.trim() } : { url: url.value.trim() };
        const test = await api<ConnectionTest>('POST', '/api/v1/cameras/test', body);
        replace(
          testResult,
          test.ok && test.preview
            ? h(
                'figure',
                { class: 'camera-snapshot' },
                h('img', { src: test.preview, alt: 'Snapshot from the camera' }),
                h('figcaption', { class: 'small' }, `Connected: the camera sends ${test.width}×${test.height} pictures.`),
              )
            : h('p', { class: 'alert' }, `Could not connect: ${test.error ?? 'the camera sent no picture'}`),
        );
      } catch (err) {
        replace(testResult, h('p', { class: 'alert' }, `Could not test: ${message(err)}`));
      } finally {
        testButton.disabled = false;
      }
    });

    const form = h(
      'form',
      {
        class: 'card stack camera-form',
        'aria-labelledby': 'camera-form-title',
        onsubmit: async (e: Event) => {
          e.preventDefault();
          replace(formError);
          save.disabled = true;
          const fields: Record<string, string> = { url: url.value.trim() };
          if (site.value.trim()) fields.site = site.value.trim();
          await change(async () => {
            try {
              if (editing) {
                dropCard(camera.name); // the camera restarts with its new settings
                const path = `/api/v1/cameras/${encodeURIComponent(camera.name)}`;
                const reply = await api<CameraChange>('PUT', path, fields);
                announce(changeOutcome(reply, `Saved camera ${camera.name}`, 'it restarted with the new settings'));
              } else {
                const added = name.value.trim();
                const reply = await api<CameraChange>('POST', '/api/v1/cameras', { name: added, ...fields });
                announce(changeOutcome(reply, `Added camera ${added}`, 'it is being read now'));
              }
              close();
            } catch (err) {
              replace(formError, h('p', { class: 'alert' }, `Not saved: ${message(err)}`));
            } finally {
              save.disabled = false;
            }
          });
        },
      },
      h('h2', { class: 'card-title', id: 'camera-form-title' }, editing ? `Edit camera ${camera.name}` : 'Add a camera'),
      field(
        name,
        'Name',
        editing
          ? 'A camera cannot be renamed; add a new one instead.'
          : 'Letters, digits, - and _ (at most 64); sightings name the camera by it.',
      ),
      field(
        site,
        'Site',
        'The place it watches (letters, digits, - and _); faces seen by cameras of one site make one visit. ' +
          'Empty: the default site.',
      ),
      field(
        url,
        'Stream address',
        editing
          ? 'rtsp://, rtsps://, http:// or https://. The password shows as ***: leave it so to keep the stored ' +
            'one, or type the new one in its place.'
          : 'rtsp://, rtsps://, http:// or https://, with the user and password if the camera needs them. ' +
            'The password is kept in the config file and never shown again.',
      ),
      h(
        'div',
        { class: 'row wrap' },
        testButton,
        save,
        h('button', { class: 'btn btn-quiet', type: 'button', onclick: close }, 'Cancel'),
      ),
      testResult,
      formError,
    );
    replace(formHost, form);
    if (addButton) addButton.hidden = true;
    (editing ? url : name).focus();
  }

  void refresh();
  const timer = window.setInterval(() => void refresh(), REFRESH_MS);
  const ticker = window.setInterval(() => {
    for (const card of cards.values()) card.preview?.tick();
  }, TICK_MS);
  return () => {
    stopped = true;
    window.clearInterval(timer);
    window.clearInterval(ticker);
    for (const card of cards.values()) card.preview?.close();
  };
}
