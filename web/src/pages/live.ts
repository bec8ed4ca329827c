// Live: every camera with its MJPEG preview (face boxes drawn by the server)
// and its status, refreshed every few seconds. When a stream breaks or ends
// (server restart, network), the last good frame stays up marked "last frame
// 12 s ago" while the stream is retried with backoff; the next frame clears it.

import { api, type Camera, type Page } from '../api';
import { errorBox, formatAge, formatValue, h, loading, replace } from '../dom';

const REFRESH_MS = 5000;
const TICK_MS = 1000; // ages the stale mark, checks a retry
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30_000;
const STALL_MS = 10_000; // no part for this long (the server resends every 2 s): broken

function stateClass(state: string): string {
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

export function livePage(root: HTMLElement): () => void {
  const grid = h('div', { class: 'grid grid-wide' });
  const status = new Map<string, HTMLElement>();
  const previews = new Map<string, { preview: Preview; lastFrameMs: number }>();
  replace(root, h('div', { class: 'page-head' }, h('h1', {}, 'Live')), grid, loading());

  function statusBlock(camera: Camera): HTMLElement {
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

  function card(camera: Camera): HTMLElement {
    const preview = new Preview(camera.name);
    previews.set(camera.name, { preview, lastFrameMs: camera.last_frame_ms ?? 0 });
    const block = statusBlock(camera);
    status.set(camera.name, block);
    return h('article', { class: 'card camera', 'data-camera': camera.name }, preview.box, preview.stale, block);
  }

  let stopped = false;
  async function refresh(first: boolean): Promise<void> {
    try {
      const page = await api<Page<Camera>>('GET', '/api/v1/cameras');
      if (stopped) return;
      if (first) {
        replace(
          grid,
          page.items.length
            ? page.items.map(card)
            : h('p', { class: 'empty' }, 'No cameras are configured in this process.'),
        );
      } else {
        for (const camera of page.items) {
          const old = status.get(camera.name);
          if (!old) continue;
          const fresh = statusBlock(camera);
          old.replaceWith(fresh);
          status.set(camera.name, fresh);
          // A newer frame on the server: a broken stream is worth retrying now.
          const shown = previews.get(camera.name);
          if (shown && (camera.last_frame_ms ?? 0) > shown.lastFrameMs) {
            shown.lastFrameMs = camera.last_frame_ms ?? 0;
            shown.preview.retrySoon();
          }
        }
      }
    } catch (err) {
      if (!stopped && first) replace(grid, errorBox(err));
    } finally {
      if (first) root.querySelector(':scope > p.muted')?.remove();
    }
  }

  void refresh(true);
  const timer = window.setInterval(() => void refresh(false), REFRESH_MS);
  const ticker = window.setInterval(() => {
    for (const { preview } of previews.values()) preview.tick();
  }, TICK_MS);
  return () => {
    stopped = true;
    window.clearInterval(timer);
    window.clearInterval(ticker);
    for (const { preview } of previews.values()) preview.close();
  };
}
