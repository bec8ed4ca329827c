// Audit log: every tag, ignore, forget, login and settings change, newest
// first, each as a sentence ("alice tagged stranger #12 as Bo") with the
// recorded details a click away.

import { api, listAll, withQuery, type AuditEntry, type Page, type Person } from '../api';
import { errorBox, formatTime, formatValue, h, replace } from '../dom';
import { isAdmin } from '../session';

type Detail = Record<string, unknown>;

// Who did it, as a person reads it.
function actorName(actor: string): string {
  const [kind, ...rest] = actor.split(':');
  const id = rest.join(':');
  switch (kind) {
    case 'user':
      return id;
    case 'slack':
      return `${id} (Slack)`;
    case 'token':
      return `API token ${id}`;
    case 'cli':
      return 'Someone on the command line';
    case 'concierge':
      return 'Concierge';
    case 'anonymous':
      return 'Someone';
    default:
      return actor;
  }
}

// Why Concierge acted on its own, as the trainer records it:
// {"actor", "action": "enroll" | "tag", "target": "person:<id>" | "cluster:<n>"}.
function causeText(because: Detail, person: (id: unknown) => string): string {
  const actor = actorName(typeof because.actor === 'string' ? because.actor : '');
  const [kind, ...rest] = (typeof because.target === 'string' ? because.target : '').split(':');
  const id = rest.join(':');
  if (because.action === 'enroll' && kind === 'person') return `${actor} enrolled ${person(id)}`;
  if (because.action === 'tag' && kind === 'cluster') return `${actor} tagged stranger #${id}`;
  return `${actor} ${String(because.action ?? 'acted')}`;
}

function count(n: unknown, one: string, many: string): string {
  const value = typeof n === 'number' ? n : Number(n ?? 0);
  return `${value} ${value === 1 ? one : many}`;
}

// The entry as one sentence; `names` maps person ids to display names.
export function auditSentence(item: AuditEntry, names: Map<string, string>): string {
  const who = actorName(item.actor);
  const detail: Detail = item.detail && typeof item.detail === 'object' ? (item.detail as Detail) : {};
  const [kind, ...rest] = (item.target || '').split(':');
  const id = rest.join(':');
  const person = (pid: unknown): string => {
    const key = typeof pid === 'string' ? pid : '';
    return names.get(key) ?? (key || 'someone');
  };
  const target = kind === 'person' ? person(id) : kind === 'cluster' ? `stranger #${id}` : item.target;
  switch (item.action) {
    case 'tag': {
      const cause = detail.because;
      const because = cause && typeof cause === 'object' && !Array.isArray(cause) ? ` (because ${causeText(cause as Detail, person)})` : '';
      return `${who} tagged ${target} as ${person(detail.person_id)}${because}`;
    }
    case 'ignore':
      return `${who} ignored ${target} and deleted ${count(detail.pictures_deleted, 'picture', 'pictures')}`;
    case 'cluster.merge': {
      const merged = Array.isArray(detail.merged) ? (detail.merged as unknown[]) : [];
      return `${who} merged ${merged.map((c) => `stranger #${String(c)}`).join(', ') || 'a stranger'} into ${target}: the same person`;
    }
    case 'cluster.split': {
      const faces = Array.isArray(detail.sightings) ? detail.sightings.length : 0;
      return `${who} split ${count(faces, 'face', 'faces')} off ${target} as stranger #${String(detail.new_cluster ?? '?')}`;
    }
    case 'restart':
      return `${who} restarted Concierge`;
    case 'not_me':
      return `${who} said a face was not ${person(detail.person_id)}; Concierge unlearned it`;
    case 'forget':
      return `${who} erased ${id || 'a person'} with ${count(detail.faces, 'face', 'faces')} and ${count(detail.sightings, 'sighting', 'sightings')}`;
    case 'login':
      return `${who} signed in`;
    case 'login_failed':
      return `A sign-in as ${id || 'someone'} failed`;
    case 'logout':
      return `${who} signed out`;
    case 'settings': {
      const changed = Array.isArray(detail.changed) ? (detail.changed as unknown[]).join(', ') : '';
      return `${who} changed settings${changed ? `: ${changed}` : ''}`;
    }
    case 'person.create':
      return `${who} added ${target}`;
    case 'person.rename':
      return `${who} renamed ${target}`;
    case 'person.preferences':
      return `${who} changed the notification preferences of ${target}`;
    case 'person.merge':
      return `${who} merged ${String(detail.from ?? 'a duplicate')} into ${target}`;
    case 'person.export':
      return `${who} exported the data of ${target}`;
    case 'face.enrol':
      return `${who} enrolled ${count(detail.faces, 'photo', 'photos')} of ${target}`;
    case 'face.delete':
      return `${who} removed a face of ${target}`;
    case 'user_add': {
      const role = typeof detail.role === 'string' ? ` as ${detail.role}` : '';
      return `${who} added the user ${id}${role}`;
    }
    case 'user_remove':
      return `${who} removed the user ${id}`;
    case 'token_create':
      return `${who} created API token ${id}`;
    case 'token_revoke':
      return `${who} revoked API token ${id}`;
    case 'aws_key_create':
      return `${who} created AWS access key ${item.target}`;
    case 'aws_key_revoke':
      return `${who} revoked AWS access key ${item.target}`;
    default:
      return `${who}: ${item.action} ${item.target || ''}`.trim();
  }
}

export function auditPage(root: HTMLElement): void {
  const list = h('div', { class: 'audit' });
  const more = h('button', { class: 'btn', type: 'button', hidden: true }, 'Load more');
  let cursor: string | null = null;
  const names = new Map<string, string>();

  function entry(item: AuditEntry): HTMLElement {
    const detail =
      item.detail === null || item.detail === undefined || item.detail === ''
        ? null
        : typeof item.detail === 'string'
          ? item.detail
          : formatValue(item.detail);
    return h(
      'div',
      { class: 'audit-row' },
      h('div', { class: 'audit-time muted small' }, formatTime(item.at_ms, item.at)),
      h(
        'div',
        { class: 'audit-what' },
        h('span', { class: 'audit-sentence' }, auditSentence(item, names)),
        ' ',
        h('span', { class: 'badge', title: item.target || '' }, item.action),
      ),
      detail && h('details', { class: 'audit-detail small muted' }, h('summary', {}, 'Details'), detail),
    );
  }

  async function load(): Promise<void> {
    try {
      if (!names.size) {
        const people = await listAll<Person>('/api/v1/people').catch(() => [] as Person[]);
        for (const p of people) names.set(p.id, p.name);
      }
      const page = await api<Page<AuditEntry>>('GET', withQuery('/api/v1/audit', { limit: 100, cursor }));
      if (!cursor) replace(list);
      for (const item of page.items) list.appendChild(entry(item));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      if (!list.children.length) replace(list, h('p', { class: 'empty' }, 'Nothing recorded yet.'));
    } catch (err) {
      replace(list, errorBox(err));
    }
  }

  more.addEventListener('click', () => void load());
  replace(root, h('div', { class: 'page-head' }, h('h1', {}, 'Audit log')));
  if (!isAdmin()) {
    root.appendChild(h('p', { class: 'empty' }, 'Only admins can read the audit log.'));
    return;
  }
  root.append(list, h('div', { class: 'row center' }, more));
  replace(list, h('p', { class: 'muted' }, 'Loading…'));
  void load();
}
