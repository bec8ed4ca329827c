// Timeline: visits newest first, each with its best crop, who it was (or
// "Unknown"), when and where. New and growing visits arrive over SSE
// (/api/v1/events) and are merged in place without a reload. "Search by
// photo" lists every visit of the face in an uploaded photo instead
// (POST /api/v1/search).

import {
  api,
  captureClockLabel,
  imageUrl,
  personName,
  withQuery,
  type Page,
  type Sighting,
  type Visit,
} from '../api';
import { errorBox, formatTime, h, replace } from '../dom';

type Filter = 'all' | 'known' | 'unknown';
type SearchHit = Visit & { similarity: number };

// One visit as a list row: its best crop, who, when, where and how many sightings.
export function visitRow(visit: Visit): HTMLElement {
  const name = personName(visit.person);
  const src = imageUrl(visit.image_url, visit.best_sighting_id);
  const clock = captureClockLabel(visit.capture_clock);
  return h(
    'li',
    {
      class: 'visit',
      'data-visit': String(visit.id),
      'data-person': name ?? '',
      'data-sightings': visit.sightings,
    },
    src
      ? h('img', { class: 'thumb', src, alt: name ? `Face of ${name}` : 'Unknown face', loading: 'lazy' })
      : h('div', { class: 'thumb thumb-empty' }),
    h(
      'div',
      { class: 'visit-body' },
      h('div', { class: name ? 'visit-name' : 'visit-name unknown' }, name ?? 'Unknown'),
      h(
        'div',
        { class: 'muted' },
        formatTime(visit.started_ms, visit.started),
        clock && h('span', { class: 'badge capture-clock', title: clock[1] }, clock[0]),
      ),
      h(
        'div',
        { class: 'muted small' },
        [visit.camera, visit.site].filter(Boolean).join(' · ') || '—',
        ` · ${visit.sightings} sighting${visit.sightings === 1 ? '' : 's'}`,
      ),
    ),
  );
}

export function timelinePage(root: HTMLElement): () => void {
  const list = h('ol', { class: 'timeline', 'aria-live': 'polite' });
  const more = h('button', { class: 'btn', type: 'button', hidden: true }, 'Load more');
  const liveBadge = h('span', { class: 'badge', title: 'Live updates' }, 'connecting…');
  const rows = new Map<string, HTMLElement>();
  let filter: Filter = 'all';
  let cursor: string | null = null;
  let generation = 0;
  let searching = false;  // the list shows search results: live updates wait
  const searchInput = h('input', {
    type: 'file',
    accept: 'image/jpeg,image/png',
    id: 'search-photo',
  }) as HTMLInputElement;
  const searchStatus = h('span', { class: 'muted small', 'aria-live': 'polite' });
  const showAll = h('button', { class: 'btn', type: 'button', hidden: true }, 'Show all visits');

  const filterButtons = (['all', 'known', 'unknown'] as Filter[]).map((value) =>
    h(
      'button',
      {
        type: 'button',
        class: 'chip',
        'aria-pressed': String(value === filter),
        onclick: () => {
          filter = value;
          for (const b of filterButtons) b.setAttribute('aria-pressed', String(b.dataset.value === value));
          void load(true);
        },
        'data-value': value,
      },
      value === 'all' ? 'All' : value === 'known' ? 'Known' : 'Unknown',
    ),
  );

  function matchesFilter(visit: Visit): boolean {
    if (filter === 'known') return Boolean(visit.person);
    if (filter === 'unknown') return !visit.person;
    return true;
  }

  // Inserts or refreshes a visit, keeping newest-first order by start time.
  function upsert(visit: Visit): void {
    if (searching) return;
    const key = String(visit.id);
    const old = rows.get(key);
    if (!matchesFilter(visit)) {
      old?.remove();
      rows.delete(key);
      return;
    }
    const fresh = visitRow(visit);
    fresh.dataset.started = String(visit.started_ms ?? 0);
    rows.set(key, fresh);
    if (old) {
      old.replaceWith(fresh);
      return;
    }
    list.querySelector('.empty')?.remove();
    const later = [...list.children].find(
      (child) => Number((child as HTMLElement).dataset.started ?? 0) < (visit.started_ms ?? 0),
    );
    list.insertBefore(fresh, later ?? null);
    fresh.classList.add('flash');
  }

  async function search(): Promise<void> {
    const file = searchInput.files?.[0];
    if (!file) return;
    const mine = ++generation;
    searching = true;
    rows.clear();
    more.hidden = true;
    showAll.hidden = false;
    searchStatus.textContent = '';
    replace(list, h('li', { class: 'muted' }, 'Searching…'));
    const form = new FormData();
    form.append('image', file);
    try {
      const found = await api<{ items: SearchHit[] }>('POST', '/api/v1/search', form);
      if (mine !== generation) return;
      replace(list);
      for (const hit of found.items) {
        const el = visitRow(hit);
        el.classList.add('search-hit');
        el.querySelector('.visit-body')?.appendChild(
          h(
            'div',
            { class: 'muted small similarity', title: 'Cosine similarity to the photo (1 is identical)' },
            `similarity ${hit.similarity.toFixed(2)}`,
          ),
        );
        list.appendChild(el);
      }
      const n = found.items.length;
      searchStatus.textContent = `${n} visit${n === 1 ? '' : 's'} of this face`;
      if (!n) replace(list, h('li', { class: 'empty' }, 'No visit of this face.'));
    } catch (err) {
      if (mine === generation) replace(list, h('li', {}, errorBox(err)));
    }
  }

  async function load(reset: boolean): Promise<void> {
    const mine = ++generation;
    if (reset) {
      searching = false;
      showAll.hidden = true;
      searchStatus.textContent = '';
      searchInput.value = '';
      cursor = null;
      rows.clear();
      replace(list, h('li', { class: 'muted' }, 'Loading…'));
    }
    try {
      const page = await api<Page<Visit>>(
        'GET',
        withQuery('/api/v1/visits', { limit: 50, cursor, unknown: filter === 'unknown' }),
      );
      if (mine !== generation) return;
      if (reset) replace(list);
      for (const visit of page.items) if (!rows.has(String(visit.id))) append(visit);
      cursor = page.next_cursor;
      more.hidden = !cursor;
      if (!rows.size) replace(list, h('li', { class: 'empty' }, 'No visits yet.'));
    } catch (err) {
      if (mine === generation) replace(list, h('li', {}, errorBox(err)));
    }
  }

  function append(visit: Visit): void {
    if (!matchesFilter(visit)) return;
    const el = visitRow(visit);
    el.dataset.started = String(visit.started_ms ?? 0);
    rows.set(String(visit.id), el);
    list.appendChild(el);
  }

  more.addEventListener('click', () => void load(false));
  searchInput.addEventListener('change', () => void search());
  showAll.addEventListener('click', () => void load(true));

  const events = new EventSource('/api/v1/events');
  events.addEventListener('open', () => {
    liveBadge.className = 'badge badge-ok';
    liveBadge.textContent = 'live';
  });
  events.addEventListener('error', () => {
    liveBadge.className = 'badge';
    liveBadge.textContent = events.readyState === EventSource.CLOSED ? 'offline' : 'reconnecting…';
  });
  events.addEventListener('visit', (e) => {
    try {
      upsert(JSON.parse((e as MessageEvent<string>).data) as Visit);
    } catch {
      // A malformed event is skipped; the next one or a reload brings the state.
    }
  });
  // A sighting of a visit we do not show yet: fetch that visit.
  events.addEventListener('sighting', (e) => {
    let sighting: Sighting;
    try {
      sighting = JSON.parse((e as MessageEvent<string>).data) as Sighting;
    } catch {
      return;
    }
    if (sighting.visit === null || sighting.visit === undefined) return;
    api<Visit>('GET', `/api/v1/visits/${encodeURIComponent(String(sighting.visit))}`)
      .then(upsert)
      .catch(() => undefined);
  });

  replace(
    root,
    h('div', { class: 'page-head' }, h('h1', {}, 'Timeline'), liveBadge),
    h('div', { class: 'chips', role: 'group', 'aria-label': 'Filter' }, filterButtons),
    h(
      'div',
      { class: 'row search' },
      h('label', { for: 'search-photo' }, 'Search by photo'),
      searchInput,
      showAll,
      searchStatus,
    ),
    list,
    h('div', { class: 'row center' }, more),
  );
  void load(true);
  return () => events.close();
}
