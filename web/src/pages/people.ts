// People: the list (with "add person") and one person's page: their visit
// history (paged), enrol photos with a quality verdict per photo, notification
// preferences, rename, merge another person in, see and remove faces, and
// forget the person after typing their name.

import {
  api,
  imageUrl,
  listAll,
  withQuery,
  type EnrolResult,
  type Face,
  type Page,
  type Person,
  type PersonPreferences,
  type Visit,
} from '../api';
import {
  append,
  confirmDialog,
  errorBox,
  formatTime,
  formatValue,
  h,
  loading,
  replace,
  toast,
} from '../dom';
import { navigate, type Params } from '../router';
import { isAdmin } from '../session';
import { visitRow } from './timeline';

function personPath(id: string): string {
  return `/api/v1/people/${encodeURIComponent(id)}`;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function peoplePage(root: HTMLElement): void {
  const grid = h('div', { class: 'grid' }, loading());
  const name = h('input', { type: 'text', required: true, placeholder: 'Full name', 'aria-label': 'Name' });
  const addForm =
    isAdmin() &&
    h(
      'form',
      {
        class: 'row inline-form',
        onsubmit: async (e: Event) => {
          e.preventDefault();
          try {
            const person = await api<Person>('POST', '/api/v1/people', { name: name.value.trim() });
            navigate(`people/${encodeURIComponent(person.id)}`);
          } catch (err) {
            toast(message(err), 'error');
          }
        },
      },
      name,
      h('button', { class: 'btn btn-primary', type: 'submit' }, 'Add person'),
    );

  replace(root, h('div', { class: 'page-head' }, h('h1', {}, 'People')), addForm, grid);
  listAll<Person>('/api/v1/people')
    .then((people) => {
      people.sort((a, b) => a.name.localeCompare(b.name));
      replace(
        grid,
        people.length
          ? people.map((p) =>
              h(
                'a',
                { class: 'card person-card', href: `#/people/${encodeURIComponent(p.id)}`, 'data-person': p.name },
                p.thumbnail_url
                  ? h('img', { class: 'avatar', src: p.thumbnail_url, alt: '', loading: 'lazy' })
                  : h('div', { class: 'avatar', 'aria-hidden': 'true' }, initials(p.name)),
                h('div', {}, h('div', { class: 'visit-name' }, p.name), h('div', { class: 'muted small' }, `${p.faces} face${p.faces === 1 ? '' : 's'}`)),
              ),
            )
          : h('p', { class: 'empty' }, 'Nobody is enrolled yet. Add a person, or tag someone on “Who is this?”.'),
      );
    })
    .catch((err) => replace(grid, errorBox(err)));
}

function initials(name: string): string {
  return name
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((part) => part[0]!.toUpperCase())
    .join('');
}

// The measured quality in plain words, each number on hover.
const QUALITY_WORDS: Record<string, [string, (v: number) => string]> = {
  size_px: ['face size', (v) => `${Math.round(v)} px wide`],
  sharpness: ['sharpness', (v) => v.toFixed(0)],
  yaw: ['head turned', (v) => `${Math.abs(v).toFixed(0)}°`],
  pitch: ['head tilted', (v) => `${Math.abs(v).toFixed(0)}°`],
  brightness: ['brightness', (v) => `${v.toFixed(0)} of 255`],
  score: ['overall', (v) => `${Math.round(v * 100)}%`],
};

function qualityList(quality: unknown): HTMLElement | null {
  if (quality === null || quality === undefined) return null;
  if (typeof quality !== 'object') return h('span', { class: 'small muted' }, `quality ${formatValue(quality)}`);
  return h(
    'dl',
    { class: 'stats small' },
    Object.entries(quality as Record<string, unknown>)
      .filter(([key, value]) => key in QUALITY_WORDS && typeof value === 'number')
      .flatMap(([key, value]) => {
        const [word, show] = QUALITY_WORDS[key]!;
        return [h('dt', {}, word), h('dd', {}, show(value as number))];
      }),
  );
}

// A rejection reason such as "too blurry (12 < 40)": the words, the numbers on hover.
function reasonText(reason: string): HTMLElement {
  const m = /^(.*?) \((.*)\)$/.exec(reason);
  return m
    ? h('span', { class: 'reason', title: `${m[2]} (measured vs limit)` }, m[1])
    : h('span', { class: 'reason' }, reason);
}

export function personPage(root: HTMLElement, params: Params): void {
  const id = params.id;
  replace(root, loading());
  api<Person>('GET', personPath(id))
    .then((person) => renderPerson(root, person))
    .catch((err) => replace(root, h('a', { href: '#/people' }, '← People'), errorBox(err)));
}

function renderPerson(root: HTMLElement, person: Person): void {
  const admin = isAdmin();
  const title = h('h1', {}, person.name);
  const faces = h('div', { class: 'grid grid-small' }, loading());
  const results = h('ul', { class: 'results' });

  const visits = h('ol', { class: 'timeline', id: 'person-visits' }, h('li', { class: 'muted' }, 'Loading…'));
  const moreVisits = h('button', { class: 'btn', type: 'button', hidden: true }, 'Load more visits');
  let visitsCursor: string | null = null;

  // Their visits, newest first (the timeline filtered to them): 20 at first,
  // then 20 more per "Load more visits" while there are more.
  async function loadVisits(): Promise<void> {
    const first = visitsCursor === null;
    moreVisits.disabled = true;
    try {
      const page = await api<Page<Visit>>(
        'GET',
        withQuery('/api/v1/visits', { person: person.id, limit: 20, cursor: visitsCursor }),
      );
      if (first) replace(visits, page.items.length ? [] : h('li', { class: 'empty' }, 'No visits yet.'));
      append(visits, page.items.map(visitRow));
      visitsCursor = page.next_cursor;
      moreVisits.hidden = !visitsCursor;
    } catch (err) {
      if (first) replace(visits, h('li', {}, errorBox(err)));
      else toast(message(err), 'error');
    } finally {
      moreVisits.disabled = false;
    }
  }
  moreVisits.addEventListener('click', () => void loadVisits());

  async function loadFaces(): Promise<void> {
    try {
      const page = await api<Page<Face>>('GET', `${personPath(person.id)}/faces?limit=500`);
      replace(
        faces,
        page.items.length ? page.items.map(faceCard) : h('p', { class: 'empty' }, 'No faces yet: upload photos above.'),
      );
    } catch (err) {
      replace(faces, errorBox(err));
    }
  }

  function faceCard(face: Face): HTMLElement {
    const src =
      face.image_url === undefined ? `/api/v1/faces/${encodeURIComponent(face.id)}/image` : imageUrl(face.image_url);
    const card = h(
      'figure',
      { class: 'card face', 'data-face': face.id },
      src
        ? h('img', { class: 'crop', src, alt: `Face of ${person.name}`, loading: 'lazy' })
        : h('div', { class: 'crop thumb-empty', title: 'No picture kept' }),
      h(
        'figcaption',
        { class: 'small muted' },
        `${face.origin || 'face'} · ${formatTime(face.created_ms, face.created)}`,
        typeof face.quality === 'number' ? ` · quality ${formatValue(face.quality)}` : null,
      ),
    );
    if (admin)
      card.appendChild(
        h(
          'button',
          {
            class: 'btn btn-small btn-quiet',
            type: 'button',
            onclick: async () => {
              const ok = await confirmDialog({
                title: 'Remove this face?',
                message: `It is no longer used to recognise ${person.name}.`,
                confirmLabel: 'Remove',
                danger: true,
              });
              if (!ok) return;
              try {
                await api<void>('DELETE', `${personPath(person.id)}/faces/${encodeURIComponent(face.id)}`);
                card.remove();
                toast('Face removed.');
              } catch (err) {
                toast(message(err), 'error');
              }
            },
          },
          'Remove',
        ),
      );
    return card;
  }

  function enrolForm(): HTMLElement {
    const files = h('input', { type: 'file', accept: 'image/jpeg,image/png', multiple: true, required: true, 'aria-label': 'Photos' });
    const submit = h('button', { class: 'btn btn-primary', type: 'submit' }, 'Upload');
    return h(
      'form',
      {
        class: 'card stack',
        onsubmit: async (e: Event) => {
          e.preventDefault();
          if (!files.files?.length) return;
          const body = new FormData();
          for (const file of files.files) body.append('image', file, file.name);
          submit.disabled = true;
          replace(results, h('li', { class: 'muted' }, 'Checking photos…'));
          try {
            const reply = await api<{ results: EnrolResult[]; strangers_resolved?: (number | string)[] }>(
              'POST',
              `${personPath(person.id)}/faces`,
              body,
            );
            const resolved = reply.strangers_resolved?.length ?? 0;
            replace(
              results,
              reply.results.map(resultRow),
              resolved > 0 &&
                h(
                  'li',
                  { class: 'result ok resolved-strangers' },
                  `${resolved} open "Who is this?" card${resolved === 1 ? ' was' : 's were'} ${person.name}: answered.`,
                ),
            );
            files.value = '';
            void loadFaces();
          } catch (err) {
            replace(results, h('li', {}, errorBox(err)));
          } finally {
            submit.disabled = false;
          }
        },
      },
      h('h2', { class: 'card-title' }, 'Enrol photos'),
      h('p', { class: 'muted small' }, 'Clear, front-facing photos of one face work best. Each photo gets a verdict.'),
      files,
      h('div', { class: 'row' }, submit),
      results,
    );
  }

  function resultRow(result: EnrolResult): HTMLElement {
    return h(
      'li',
      { class: result.accepted ? 'result ok' : 'result bad' },
      h('span', { class: result.accepted ? 'badge badge-ok' : 'badge badge-bad' }, result.accepted ? 'accepted' : 'rejected'),
      h('strong', {}, result.file || 'photo'),
      result.reasons?.length
        ? h('span', { class: 'small' }, result.reasons.flatMap((r, i) => (i ? ['; ', reasonText(r)] : [reasonText(r)])))
        : null,
      qualityList(result.quality),
    );
  }

  function renameForm(): HTMLElement {
    const input = h('input', { type: 'text', value: person.name, required: true, 'aria-label': 'New name' });
    return h(
      'form',
      {
        class: 'row inline-form',
        onsubmit: async (e: Event) => {
          e.preventDefault();
          const name = input.value.trim();
          if (!name || name === person.name) return;
          try {
            const updated = await api<Person>('PATCH', personPath(person.id), { name });
            person.name = updated?.name ?? name;
            replace(title, person.name);
            toast('Renamed.');
          } catch (err) {
            toast(message(err), 'error');
          }
        },
      },
      input,
      h('button', { class: 'btn', type: 'submit' }, 'Rename'),
    );
  }

  function mergeForm(): HTMLElement {
    const select = h('select', { required: true, 'aria-label': 'Person to merge in' }, h('option', { value: '' }, 'Choose a person…'));
    listAll<Person>('/api/v1/people')
      .then((people) => {
        for (const other of people.sort((a, b) => a.name.localeCompare(b.name)))
          if (other.id !== person.id) select.appendChild(h('option', { value: other.id }, `${other.name} (${other.faces} faces)`));
      })
      .catch(() => undefined);
    return h(
      'form',
      {
        class: 'row inline-form',
        onsubmit: async (e: Event) => {
          e.preventDefault();
          const other = select.selectedOptions[0];
          if (!other?.value) return;
          const ok = await confirmDialog({
            title: 'Merge people?',
            message: `All faces of ${other.textContent} move to ${person.name}, and ${other.textContent} is removed.`,
            confirmLabel: 'Merge',
          });
          if (!ok) return;
          try {
            await api<unknown>('POST', `${personPath(person.id)}/merge`, { from: other.value });
            toast('Merged.');
            other.remove();
            void loadFaces();
          } catch (err) {
            toast(message(err), 'error');
          }
        },
      },
      select,
      h('button', { class: 'btn', type: 'submit' }, 'Merge into this person'),
    );
  }

  // How the notifier treats this person: greetings, a host told on arrival,
  // and direct alerts about strangers (needs their chat account).
  function preferencesForm(): HTMLElement {
    const current: PersonPreferences = person.preferences ?? { greeting: 'usual', alerts: 'none', host: null };
    const option = (value: string, label: string, selected: boolean) =>
      h('option', selected ? { value, selected: true } : { value }, label);
    const greeting = h(
      'select',
      { id: 'pref-greeting' },
      option('usual', 'As the settings say', current.greeting === 'usual'),
      option('once_a_day', 'Only their first arrival each day', current.greeting === 'once_a_day'),
      option('muted', 'Never (muted)', current.greeting === 'muted'),
    );
    const host = h('select', { id: 'pref-host' }, option('', 'Nobody', !current.host));
    listAll<Person>('/api/v1/people')
      .then((people) => {
        for (const other of people.sort((a, b) => a.name.localeCompare(b.name)))
          if (other.id !== person.id) host.appendChild(option(other.id, other.name, other.id === current.host));
      })
      .catch(() => undefined);
    const alerts = h(
      'select',
      { id: 'pref-alerts' },
      option('none', 'No direct messages', current.alerts === 'none'),
      option('strangers', 'Only about strangers', current.alerts === 'strangers'),
    );
    const field = (id: string, label: string, control: HTMLElement, help: string) =>
      h('div', { class: 'field' }, h('label', { for: id }, label), control, h('p', { class: 'muted small' }, help));
    return h(
      'form',
      {
        class: 'stack',
        'aria-label': 'Notification preferences',
        onsubmit: async (e: Event) => {
          e.preventDefault();
          const preferences = {
            greeting: greeting.value as PersonPreferences['greeting'],
            alerts: alerts.value as PersonPreferences['alerts'],
            host: host.value || null,
          };
          try {
            const updated = await api<Person>('PUT', `${personPath(person.id)}/preferences`, preferences);
            person.preferences = updated?.preferences ?? preferences;
            toast('Preferences saved.');
          } catch (err) {
            toast(message(err), 'error');
          }
        },
      },
      h('h3', {}, 'Notifications'),
      field('pref-greeting', 'Greet them in chat', greeting, 'Muting stops greetings for this person only.'),
      field('pref-host', 'Tell a host when they arrive', host, 'The host gets a direct message in chat (they need a chat account).'),
      field('pref-alerts', 'Direct alerts for them', alerts, 'Send this person a direct message when a stranger is seen.'),
      h('div', { class: 'row' }, h('button', { class: 'btn', type: 'submit' }, 'Save preferences')),
    );
  }

  async function forget(): Promise<void> {
    const ok = await confirmDialog({
      title: `Forget ${person.name}?`,
      message: 'This erases their faces, sightings and pictures for good. It cannot be undone.',
      confirmLabel: 'Forget',
      danger: true,
      typed: person.name,
    });
    if (!ok) return;
    try {
      const counts = await api<{ faces?: number; sightings?: number; images?: number }>('POST', `${personPath(person.id)}/forget`);
      toast(`Forgot ${person.name}: ${counts?.faces ?? 0} faces, ${counts?.sightings ?? 0} sightings, ${counts?.images ?? 0} images removed.`);
      navigate('people');
    } catch (err) {
      toast(message(err), 'error');
    }
  }

  replace(
    root,
    h('a', { class: 'back', href: '#/people' }, '← People'),
    h('div', { class: 'page-head' }, title, h('span', { class: 'muted small' }, `since ${formatTime(person.created_ms, person.created)}`)),
    h('h2', {}, 'Visits'),
    visits,
    h('div', { class: 'row center' }, moreVisits),
    h('a', { class: 'small', href: '#/timeline' }, 'All visits on the timeline'),
    admin && enrolForm(),
    h('h2', {}, 'Faces'),
    faces,
    admin &&
      h(
        'section',
        { class: 'card stack' },
        h('h2', { class: 'card-title' }, 'Manage'),
        preferencesForm(),
        renameForm(),
        mergeForm(),
        h(
          'div',
          { class: 'stack' },
          h('h3', {}, 'Their data'),
          h(
            'p',
            { class: 'small' },
            'A ZIP of everything Concierge keeps about them: faces, sightings, visits and the audit ' +
              'entries that name them, for an access request. The download is audited.',
          ),
          h(
            'a',
            {
              class: 'btn',
              id: 'person-export',
              href: `/api/v1/people/${encodeURIComponent(person.id)}/export`,
              download: `${person.id}.zip`,
            },
            'Export their data (ZIP)',
          ),
        ),
        h(
          'div',
          { class: 'danger-zone' },
          h('p', { class: 'small' }, 'Forgetting erases everything Concierge knows about this person.'),
          h('button', { class: 'btn btn-danger', type: 'button', onclick: () => void forget() }, 'Forget person…'),
        ),
      ),
  );
  void loadFaces();
  void loadVisits();
}
