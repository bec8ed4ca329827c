// Timeline: visits newest first, each with its best crop, who it was (or
// "Unknown"), when and where, filtered by person, camera and a range of days
// (with that range as CSV). New and growing visits arrive over SSE
// (/api/v1/events) and are merged in place without a reload. "Search by
// photo" lists every visit of the face in an uploaded photo instead
// (POST /api/v1/search).

import {
  api,
  captureClockLabel,
  imageUrl,
  listAll,
  personId,
  personName,
  withQuery,
  type Camera,
  type Page,
  type Person,
  type Sighting,
  type Visit,
} from '../api';
import { errorBox, formatTime, h, replace } from '../dom';

type Filter = 'all' | 'known' | 'unknown';
type SearchHit = Visit & { similarity: number };

// The filter bar's choices; empty strings and nulls mean "any".
interface VisitFilters {
  person: string;
  camera: string;
  fromDay: string;  // "YYYY-MM-DD" as picked, for the CSV export
  toDay: string;
  sinceMs: number | null;  // local midnight starting fromDay
  untilMs: number | null;  // local midnight ending toDay
}

// Epoch ms of the browser's local midnight starting "YYYY-MM-DD" plus `addDays`, or null for "".
function localMidnight(day: string, addDays = 0): number | null {
  const [year, month, date] = day.split('-').map(Number);
  if (!year || !month || !date) return null;
  return new Date(year, month - 1, date + addDays).getTime();
}

function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

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
  const personSelect = h('select', { id: 'filter-person' }, h('option', { value: '' }, 'Everyone'));
  const cameraSelect = h('select', { id: 'filter-camera' }, h('option', { value: '' }, 'All cameras'));
  const fromInput = h('input', { type: 'date', id: 'filter-from' }) as HTMLInputElement;
  const toInput = h('input', { type: 'date', id: 'filter-to' }) as HTMLInputElement;
  const clearFilters = h('button', { class: 'btn', type: 'button', hidden: true }, 'Clear filters');
  const csv = h('a', { class: 'btn', download: '', hidden: true }, 'Download CSV');
  let filters = readFilters();

  const filterButtons = (['all', 'known', 'unknown'] as Filter[]).map((value) =>
    h(
      'button',
      {
        type: 'button',
        class: 'chip',
        'aria-pressed': String(value === filter),
        onclick: () => {
          pressChip(value);
          applyFilters();
        },
        'data-value': value,
      },
      value === 'all' ? 'All' : value === 'known' ? 'Known' : 'Unknown',
    ),
  );

  function pressChip(value: Filter): void {
    filter = value;
    for (const b of filterButtons) b.setAttribute('aria-pressed', String(b.dataset.value === value));
  }

  function readFilters(): VisitFilters {
    return {
      person: personSelect.value,
      camera: cameraSelect.value,
      fromDay: fromInput.value,
      toDay: toInput.value,
      sinceMs: localMidnight(fromInput.value),
      untilMs: localMidnight(toInput.value, 1),
    };
  }

  // Reads the bar into a new `filters` (pending live checks see it changed) and reloads.
  function applyFilters(): void {
    filters = readFilters();
    // The browser's picker keeps From <= To.
    toInput.min = filters.fromDay;
    fromInput.max = filters.toDay;
    const { person, camera, fromDay, toDay } = filters;
    clearFilters.hidden = filter === 'all' && !person && !camera && !fromDay && !toDay;
    csv.hidden = !fromDay || !toDay;
    csv.setAttribute('href', withQuery('/api/v1/visits.csv', { from: fromDay, to: toDay, person }));
    csv.title = camera ? 'Has the visits at every camera: the export has no camera filter' : '';
    void load(true);
  }

  // The person, known/unknown and day filters; the camera needs the server (insertIfAtCamera).
  function matchesFilter(visit: Visit): boolean {
    if (filter === 'known' && !visit.person) return false;
    if (filter === 'unknown' && visit.person) return false;
    if (filters.person && personId(visit.person) !== filters.person) return false;
    if (filters.sinceMs !== null && visit.last_ms < filters.sinceMs) return false;
    if (filters.untilMs !== null && visit.started_ms >= filters.untilMs) return false;
    return true;
  }

  // Inserts, refreshes or (no longer matching the filters) removes a visit from an event.
  function upsert(visit: Visit): void {
    if (searching) return;
    const key = String(visit.id);
    const old = rows.get(key);
    if (!matchesFilter(visit)) {
      old?.remove();
      rows.delete(key);
      return;
    }
    // A shown visit keeps its sighting at the filtered camera; a new one may
    // have one there even when its best sighting (visit.camera) is elsewhere.
    if (!old && filters.camera && visit.camera !== filters.camera) {
      void insertIfAtCamera(visit);
      return;
    }
    place(visit, old);
  }

  // Asks the server whether a visit has a sighting at the filtered camera (the
  // visits at that camera overlapping its time span: a handful) and shows it if so.
  async function insertIfAtCamera(visit: Visit): Promise<void> {
    const asked = filters;
    try {
      const page = await api<Page<Visit>>(
        'GET',
        withQuery('/api/v1/visits', {
          camera: asked.camera,
          since: visit.last_ms,
          until: visit.started_ms + 1,
          limit: 50,
        }),
      );
      const found = page.items.find((v) => String(v.id) === String(visit.id));
      if (asked !== filters || searching || !found || rows.has(String(found.id))) return;
      if (matchesFilter(found)) place(found, undefined);
    } catch {
      // Not shown now; the next event or a reload brings it.
    }
  }

  // Shows a visit: in place of its old row, or inserted newest first by start time.
  function place(visit: Visit, old: HTMLElement | undefined): void {
    const key = String(visit.id);
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
        withQuery('/api/v1/visits', {
          limit: 50,
          cursor,
          unknown: filter === 'unknown',
          person: filters.person,
          camera: filters.camera,
          since: isoOrNull(filters.sinceMs),
          until: isoOrNull(filters.untilMs),
        }),
      );
      if (mine !== generation) return;
      if (reset) replace(list);
      for (const visit of page.items) if (!rows.has(String(visit.id))) append(visit);
      cursor = page.next_cursor;
      more.hidden = !cursor;
      const none = clearFilters.hidden ? 'No visits yet.' : 'No visits match these filters.';
      if (!rows.size) replace(list, h('li', { class: 'empty' }, none));
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
  for (const control of [personSelect, cameraSelect, fromInput, toInput])
    control.addEventListener('change', applyFilters);
  clearFilters.addEventListener('click', () => {
    pressChip('all');
    for (const control of [personSelect, cameraSelect, fromInput, toInput]) control.value = '';
    applyFilters();
  });
  listAll<Person>('/api/v1/people')
    .then((people) => {
      for (const p of people.sort((a, b) => a.name.localeCompare(b.name)))
        personSelect.appendChild(h('option', { value: p.id }, p.name));
    })
    .catch(() => undefined);
  api<{ items: Camera[] }>('GET', '/api/v1/cameras')
    .then((cameras) => {
      for (const c of cameras.items)
        cameraSelect.appendChild(
          h('option', { value: c.name }, c.site ? `${c.name} (${c.site})` : c.name),
        );
    })
    .catch(() => undefined);
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
      { class: 'filters', role: 'group', 'aria-label': 'Filter visits' },
      h('div', { class: 'field' }, h('label', { for: 'filter-person' }, 'Person'), personSelect),
      h('div', { class: 'field' }, h('label', { for: 'filter-camera' }, 'Camera'), cameraSelect),
      h('div', { class: 'field' }, h('label', { for: 'filter-from' }, 'From'), fromInput),
      h('div', { class: 'field' }, h('label', { for: 'filter-to' }, 'To'), toInput),
      h('div', { class: 'filter-actions' }, clearFilters, csv),
    ),
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
