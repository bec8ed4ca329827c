// "Who is this?": clusters of unknown faces with their best crop. An admin tags
// a cluster with an existing person (picked from the list) or a new name, or
// ignores it after a confirm (ignoring deletes the pictures). When one person
// got several cards, an admin selects them and merges them into one; when a
// card holds two people, "Faces" lists its pictures and the wrong ones are
// split off into a card of their own.

import {
  api,
  imageUrl,
  listAll,
  personName,
  withQuery,
  type Page,
  type Person,
  type Sighting,
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
  // Open cards picked as the same person, by cluster id.
  const selected = new Map<string, UnknownCluster>();
  const mergeButton = h(
    'button',
    { class: 'btn', type: 'button', hidden: true, onclick: () => void mergeSelected() },
    'Merge selected',
  );

  function showSelection(): void {
    mergeButton.hidden = selected.size < 2;
    mergeButton.textContent = `Merge ${selected.size} cards: same person`;
  }

  async function mergeSelected(): Promise<void> {
    // The card seen most often keeps its question; the others join it.
    const clusters = [...selected.values()].sort((a, b) => b.sightings - a.sightings);
    const [into, ...from] = clusters;
    mergeButton.disabled = true;
    try {
      const merged = await api<UnknownCluster>(
        'POST',
        `/api/v1/unknowns/${encodeURIComponent(String(into.id))}/merge`,
        { from: from.map((c) => Number(c.id)) },
      );
      toast(`Merged into one card with ${merged.sightings} sightings.`);
      await load(true);
    } catch (err) {
      toast(err instanceof Error ? err.message : String(err), 'error');
    } finally {
      mergeButton.disabled = false;
    }
  }

  // The cluster's pictures; for an admin on an open card, pick some and split them off.
  async function showFaces(cluster: UnknownCluster, panel: HTMLElement): Promise<void> {
    replace(panel, loading());
    try {
      const faces = await listAll<Sighting>(
        `/api/v1/unknowns/${encodeURIComponent(String(cluster.id))}/sightings`,
      );
      const canSplit = state === 'open' && isAdmin() && faces.length > 1;
      const picked = new Set<string>();
      const split = h(
        'button',
        {
          class: 'btn',
          type: 'button',
          disabled: true,
          onclick: async () => {
            split.disabled = true;
            try {
              await api<UnknownCluster>(
                'POST',
                `/api/v1/unknowns/${encodeURIComponent(String(cluster.id))}/split`,
                { sightings: [...picked] },
              );
              toast('Split off as a new card.');
              await load(true);
            } catch (err) {
              toast(err instanceof Error ? err.message : String(err), 'error');
              split.disabled = false;
            }
          },
        },
        'Split off: another person',
      );
      const tiles = faces.map((face) => {
        const src = imageUrl(face.image_url, face.id);
        const when = formatTime(face.captured_ms, face.time);
        const img = src
          ? h('img', { class: 'thumb', src, alt: `Face seen ${when}` })
          : h('div', { class: 'thumb thumb-empty' });
        if (!canSplit) return h('figure', { class: 'face-tile' }, img, h('figcaption', { class: 'small' }, when));
        const box = h('input', {
          type: 'checkbox',
          'data-sighting': face.id,
          onchange: () => {
            if (box.checked) picked.add(face.id);
            else picked.delete(face.id);
            split.disabled = picked.size === 0 || picked.size === faces.length;
          },
        });
        return h('label', { class: 'face-tile' }, img, h('span', { class: 'small' }, box, ' ', when));
      });
      replace(panel, h('div', { class: 'face-tiles' }, tiles), canSplit && split);
    } catch (err) {
      replace(panel, errorBox(err));
    }
  }

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
    const panel = h('div', { class: 'cluster-faces' });
    const faces = h(
      'details',
      { class: 'cluster-details' },
      h('summary', {}, 'Faces'),
      panel,
    ) as HTMLDetailsElement;
    faces.addEventListener('toggle', () => {
      if (faces.open) void showFaces(cluster, panel);
    });
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
    const body = el.querySelector('.card-body')!;
    if (state === 'open' && isAdmin()) {
      const key = String(cluster.id);
      const pick = h('input', {
        type: 'checkbox',
        class: 'merge-pick',
        onchange: () => {
          if (pick.checked) selected.set(key, cluster);
          else selected.delete(key);
          showSelection();
        },
      });
      body.appendChild(h('label', { class: 'field-check small' }, pick, 'Same person as other selected cards'));
      body.appendChild(actions(cluster, el));
    }
    if (state !== 'ignored') body.appendChild(faces);
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
      selected.clear();
      showSelection();
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
    h('div', { class: 'row between' }, h('div', { class: 'chips', role: 'group', 'aria-label': 'State' }, tabs), mergeButton),
    datalist,
    grid,
    h('div', { class: 'row center' }, more),
  );
  void refreshPeople();
  void load(true);
}
