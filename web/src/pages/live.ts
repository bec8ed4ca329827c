// Live: every camera with its MJPEG preview (face boxes drawn by the server)
// and its status, refreshed every few seconds.

import { api, type Camera, type Page } from '../api';
import { errorBox, formatAge, formatValue, h, loading, replace } from '../dom';

const REFRESH_MS = 5000;

function stateClass(state: string): string {
  if (/run|ok|live|active/i.test(state)) return 'badge badge-ok';
  if (/err|fail|stop/i.test(state)) return 'badge badge-bad';
  return 'badge';
}

function previewUrl(name: string): string {
  return `/api/v1/cameras/${encodeURIComponent(name)}/preview.mjpg`;
}

export function livePage(root: HTMLElement): () => void {
  const grid = h('div', { class: 'grid grid-wide' });
  const status = new Map<string, HTMLElement>();
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
    const preview = h('img', {
      class: 'preview',
      alt: `Live preview of ${camera.name}`,
      src: previewUrl(camera.name),
    });
    // The text shows through until the first frame arrives (a drop folder has
    // one only when a photo comes in).
    const frame = h('div', { class: 'preview-box' }, h('span', {}, 'Waiting for a frame…'), preview);
    preview.addEventListener('error', () => {
      replace(frame, h('span', {}, 'No preview'));
    });
    const block = statusBlock(camera);
    status.set(camera.name, block);
    return h('article', { class: 'card camera', 'data-camera': camera.name }, frame, block);
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
  return () => {
    stopped = true;
    window.clearInterval(timer);
    // An MJPEG stream stays open until its <img> lets go; free the server thread.
    for (const img of root.querySelectorAll('img.preview')) img.removeAttribute('src');
  };
}
