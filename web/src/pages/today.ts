// Today: the office manager's board for one day (today unless another date is
// picked): who came in, when they arrived and were last seen, the strangers
// of the day and what happened after office hours (GET /api/v1/presence),
// with the day's visits as CSV for a spreadsheet.

import { api, personId, personName, withQuery, type PersonRef, type Visit } from '../api';
import { errorBox, formatTime, h, loading, replace } from '../dom';
import { visitRow } from './timeline';

interface PresentPerson {
  person: PersonRef;
  first_seen: string;
  last_seen: string;
  first_seen_ms: number;
  last_seen_ms: number;
  cameras: string[];
}

interface Presence {
  date: string;
  people: PresentPerson[];
  strangers: Visit[];
  after_hours: Visit[];
}

// "YYYY-MM-DD" of the browser's local day.
function localDate(d = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

export function todayPage(root: HTMLElement): () => void {
  const picker = h('input', { type: 'date', id: 'today-date', value: localDate(), 'aria-label': 'Day' }) as HTMLInputElement;
  const csv = h('a', { class: 'btn btn-small', download: '' }, 'Download CSV');
  const board = h('div', { class: 'stack' }, loading());
  let generation = 0;

  function personRow(p: PresentPerson): HTMLElement {
    const id = personId(p.person) ?? '';
    const name = personName(p.person) ?? id;
    return h(
      'tr',
      { 'data-person': name },
      h('td', {}, h('a', { href: `#/people/${encodeURIComponent(id)}` }, name)),
      h('td', {}, formatTime(p.first_seen_ms, p.first_seen)),
      h('td', {}, formatTime(p.last_seen_ms, p.last_seen)),
      h('td', { class: 'muted small' }, p.cameras.join(', ') || '—'),
    );
  }

  function visits(id: string, list: Visit[], empty: string): HTMLElement {
    return list.length
      ? h('ol', { class: 'timeline', id }, list.map(visitRow))
      : h('p', { class: 'empty', id }, empty);
  }

  async function load(): Promise<void> {
    const mine = ++generation;
    const date = picker.value || localDate();
    csv.setAttribute('href', withQuery('/api/v1/visits.csv', { from: date, to: date }));
    replace(board, loading());
    try {
      const day = await api<Presence>('GET', withQuery('/api/v1/presence', { date }));
      if (mine !== generation) return;
      replace(
        board,
        h('h2', {}, `In the office (${day.people.length})`),
        day.people.length
          ? h(
              'div',
              { class: 'table-wrap' },
              h(
                'table',
                { class: 'table', id: 'today-people' },
                h('thead', {}, h('tr', {}, h('th', {}, 'Who'), h('th', {}, 'Arrived'), h('th', {}, 'Last seen'), h('th', {}, 'Cameras'))),
                h('tbody', {}, day.people.map(personRow)),
              ),
            )
          : h('p', { class: 'empty', id: 'today-people' }, 'Nobody recognised on this day.'),
        h('h2', {}, `Strangers (${day.strangers.length})`),
        visits('today-strangers', day.strangers, 'No strangers on this day.'),
        h('h2', {}, `After office hours (${day.after_hours.length})`),
        visits('today-after-hours', day.after_hours, 'Nothing after hours.'),
      );
    } catch (err) {
      if (mine === generation) replace(board, errorBox(err));
    }
  }

  picker.addEventListener('change', () => void load());
  replace(
    root,
    h('div', { class: 'page-head' }, h('h1', {}, 'Today'), h('div', { class: 'row' }, picker, csv)),
    board,
  );
  void load();
  // The board follows the day: refreshed every minute while it is open.
  const timer = window.setInterval(() => void load(), 60_000);
  return () => window.clearInterval(timer);
}
