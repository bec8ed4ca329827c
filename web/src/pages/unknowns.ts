// "Who is this?": clusters of unknown faces with their best crop. An admin tags
// a cluster with an existing person (picked from the list) or a new name, or
// ignores it after a confirm (ignoring deletes the pictures).

import {
  api,
  imageUrl,
  listAll,
  personName,
  withQuery,
  type Page,
  type Person,
  type UnknownCluster,
} from '../api';
import { confirmDialog, errorBox, formatTime, h, loading, replace, toast } from '../dom';
import { isAdmin } from '../session';

type State = 'open' | 'tagged' | 'ignored';

export function unknownsPage(root: HTMLElement): void {
  let state: State = 'open';
  let cursor: string | null = null;
  let people: Person[] = [];
  const grid = h('div', { class: 'grid' });
  const more = h('button', { class: 'btn', type: 'button', hidden: true }, 'Load more');
  const datalist = h('datalist', { id: 'people-names' });

  const tabs = (['open', 'tagged', 'ignored'] as State[]).map((value) =>
    h(
      'button',
      {
        type: 'button',
        class: 'chip',
        'data-value': value,
        'aria-pressed': String(value === state),
        onclick: () => {
          state = value;
          for (const t of tabs) t.setAttribute('aria-pressed', String(t.dataset.value === value));
          void load(true);
        },
      },
      value === 'open' ? 'Open' : value === 'tagged' ? 'Tagged' : 'Ignored',
    ),
  );

  async function tag(cluster: UnknownCluster, name: string, card: HTMLElement): Promise<void> {
    const existing = people.find((p) => p.name.toLowerCase() === name.toLowerCase());
    const body = existing ? { person_id: existing.id } : { name };
    await api<UnknownCluster>('POST', `/api/v1/unknowns/${encodeURIComponent(String(cluster.id))}/tag`, body);
    toast(existing ? `Tagged as ${existing.name}.` : `Tagged as ${name} (new person).`);
    card.remove();
    if (!existing) void refreshPeople();
    if (!grid.querySelector('.card')) replace(grid, h('p', { class: 'empty' }, 'Nobody left to name.'));
  }

  function actions(cluster: UnknownCluster, card: HTMLElement): HTMLElement {
    const input = h('input', {
      type: 'text',
      list: 'people-names',
      required: true,
      placeholder: 'Name',
      'aria-label': 'Who is this?',
      autocomplete: 'off',
    });
    const tagButton = h('button', { class: 'btn btn-primary', type: 'submit' }, 'Tag');
    const ignoreButton = h(
      'button',
      {
        class: 'btn btn-quiet',
        type: 'button',
        onclick: async () => {
          const ok = await confirmDialog({
            title: 'Ignore this face?',
            message: 'Its pictures are deleted and it will not be asked about again.',
            confirmLabel: 'Ignore',
            danger: true,
          });
          if (!ok) return;
          try {
            await api<void>('POST', `/api/v1/unknowns/${encodeURIComponent(String(cluster.id))}/ignore`);
            toast('Ignored.');
            card.remove();
          } catch (err) {
            toast(err instanceof Error ? err.message : String(err), 'error');
          }
        },
      },
      'Ignore',
    );
    return h(
      'form',
      {
        class: 'tag-form',
        onsubmit: async (e: Event) => {
          e.preventDefault();
          const name = input.value.trim();
          if (!name) return;
          tagButton.disabled = true;
          try {
            await tag(cluster, name, card);
          } catch (err) {
            toast(err instanceof Error ? err.message : String(err), 'error');
          } finally {
            tagButton.disabled = false;
          }
        },
      },
      input,
      h('div', { class: 'row' }, tagButton, ignoreButton),
    );
  }

  function card(cluster: UnknownCluster): HTMLElement {
    const src = imageUrl(cluster.image_url, cluster.best_sighting_id);
    const name = personName(cluster.person);
    const el = h(
      'article',
      { class: 'card unknown', 'data-cluster': String(cluster.id) },
      src ? h('img', { class: 'crop', src, alt: 'Unknown face' }) : h('div', { class: 'crop thumb-empty' }),
      h(
        'div',
        { class: 'card-body' },
        h('div', { class: 'muted small' }, `${cluster.sightings} sighting${cluster.sightings === 1 ? '' : 's'} · ${cluster.site}`),
        h('div', { class: 'small' }, 'Last seen ', formatTime(cluster.last_ms, cluster.last)),
        name && h('div', { class: 'visit-name' }, name),
      ),
    );
    if (state === 'open' && isAdmin()) el.querySelector('.card-body')!.appendChild(actions(cluster, el));
    return el;
  }

  async function refreshPeople(): Promise<void> {
    try {
      people = await listAll<Person>('/api/v1/people');
      replace(datalist, people.map((p) => h('option', { value: p.name })));
    } catch {
      people = [];
    }
  }

  async function load(reset: boolean): Promise<void> {
    if (reset) {
      cursor = null;
      replace(grid, loading());
    }
    try {
      const page = await api<Page<UnknownCluster>>(
        'GET',
        withQuery('/api/v1/unknowns', { state, limit: 48, cursor }),
      );
      if (reset) replace(grid);
      for (const cluster of page.items) grid.appendChild(card(cluster));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      if (!grid.children.length)
        replace(grid, h('p', { class: 'empty' }, state === 'open' ? 'Nobody to name right now.' : 'None.'));
    } catch (err) {
      replace(grid, errorBox(err));
    }
  }

  more.addEventListener('click', () => void load(false));
  replace(
    root,
    h('div', { class: 'page-head' }, h('h1', {}, 'Who is this?')),
    h('div', { class: 'chips', role: 'group', 'aria-label': 'State' }, tabs),
    datalist,
    grid,
    h('div', { class: 'row center' }, more),
  );
  void refreshPeople();
  void load(true);
}
