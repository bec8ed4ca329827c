// Settings (admin): the editable settings as a form built from what the server
// sends (thresholds, cooldowns, office hours, retention, notification channels),
// saved as a partial PUT of only the changed fields; then users and API tokens.

import { api, listAll, type ApiToken, type User } from '../api';
import { confirmDialog, errorBox, formatTime, h, loading, replace, toast } from '../dom';
import { currentUser, isAdmin } from '../session';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function label(key: string): string {
  const text = key.replace(/_/g, ' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// One input per leaf; `read` gives the edited value back in the original type.
interface Field {
  path: string[];
  original: Json;
  read: () => Json | undefined; // undefined: not parseable
}

// Settings the server takes only from its config file or environment (paths,
// addresses, hosts that receive secrets): shown, never sent.
function isFileOnly(path: string[], fileOnly: string[]): boolean {
  const dotted = path.join('.');
  return fileOnly.some((key) => dotted === key || dotted.startsWith(key + '.'));
}

function readOnlyField(path: string[], value: Json): HTMLElement {
  const id = 'setting-' + path.join('-');
  const input = h('input', {
    type: 'text',
    id,
    value: typeof value === 'string' ? value : JSON.stringify(value),
    name: path.join('.'),
    readonly: true,
    title: 'Set in the config file or the environment',
  });
  return h('label', { class: 'field', for: id }, `${label(path[path.length - 1])} (config file only)`, input);
}

function fieldFor(path: string[], value: Json, fields: Field[], fileOnly: string[]): HTMLElement {
  if (isFileOnly(path, fileOnly)) return readOnlyField(path, value);
  const key = path[path.length - 1];
  const id = 'setting-' + path.join('-');
  if (typeof value === 'boolean') {
    const input = h('input', { type: 'checkbox', id, checked: value, name: path.join('.') });
    fields.push({ path, original: value, read: () => input.checked });
    return h('label', { class: 'field field-check', for: id }, input, label(key));
  }
  if (typeof value === 'number') {
    // Floats come back as 0.5299999713; show (and compare against) 7 significant digits.
    const shown = Number(value.toPrecision(7));
    const input = h('input', { type: 'number', id, step: 'any', value: String(shown), name: path.join('.') });
    fields.push({
      path,
      original: shown,
      read: () => (input.value.trim() === '' || Number.isNaN(input.valueAsNumber) ? undefined : input.valueAsNumber),
    });
    return h('label', { class: 'field', for: id }, label(key), input);
  }
  if (typeof value === 'string' || value === null) {
    const secret = /password|secret|token|key/i.test(key);
    const input = h('input', {
      type: secret ? 'password' : 'text',
      id,
      value: value ?? '',
      name: path.join('.'),
      autocomplete: 'off',
    });
    fields.push({ path, original: value, read: () => (value === null && input.value === '' ? null : input.value) });
    return h('label', { class: 'field', for: id }, label(key), input);
  }
  if (Array.isArray(value)) {
    const area = h('textarea', { id, rows: 3, name: path.join('.'), spellcheck: 'false' });
    area.value = JSON.stringify(value, null, 1);
    fields.push({
      path,
      original: value,
      read: () => {
        try {
          const parsed = JSON.parse(area.value) as Json;
          return Array.isArray(parsed) ? parsed : undefined;
        } catch {
          return undefined;
        }
      },
    });
    return h('label', { class: 'field', for: id }, `${label(key)} (JSON list)`, area);
  }
  return h(
    'fieldset',
    { class: 'subsection' },
    h('legend', {}, label(key)),
    Object.entries(value).map(([k, v]) => fieldFor([...path, k], v, fields, fileOnly)),
  );
}

function setPath(target: JsonObject, path: string[], value: Json): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (!isObject(node[key])) node[key] = {};
    node = node[key] as JsonObject;
  }
  node[path[path.length - 1]] = value;
}

// Sections the office manager tunes most, shown first and open; the rest is folded.
const PRIMARY_SECTIONS = ['recognition', 'notify', 'retention', 'quality', 'serve', 'auth'];

function sectionRank(key: string): number {
  const rank = PRIMARY_SECTIONS.indexOf(key);
  return rank < 0 ? PRIMARY_SECTIONS.length : rank;
}

function settingsForm(settings: JsonObject, file: string | null, fileOnly: string[], host: HTMLElement): void {
  const fields: Field[] = [];
  const entries = Object.entries(settings).sort(([a], [b]) => sectionRank(a) - sectionRank(b));
  const sections = entries.map(([key, value]) =>
    isObject(value)
      ? h(
          'details',
          { class: 'card section', open: PRIMARY_SECTIONS.includes(key) },
          h('summary', {}, label(key)),
          h('div', { class: 'fields' }, Object.entries(value).map(([k, v]) => fieldFor([key, k], v, fields, fileOnly))),
        )
      : h('div', { class: 'card section' }, fieldFor([key], value, fields, fileOnly)),
  );
  const status = h('p', { class: 'small', role: 'status' });
  const save = h('button', { class: 'btn btn-primary', type: 'submit' }, 'Save settings');
  const form = h(
    'form',
    {
      class: 'stack',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const changes: JsonObject = {};
        for (const field of fields) {
          const value = field.read();
          if (value === undefined) {
            toast(`${field.path.join('.')} is not valid.`, 'error');
            return;
          }
          if (JSON.stringify(value) !== JSON.stringify(field.original)) setPath(changes, field.path, value);
        }
        if (!Object.keys(changes).length) {
          replace(status, 'Nothing changed.');
          return;
        }
        save.disabled = true;
        try {
          const reply = await api<JsonObject | undefined>('PUT', '/api/v1/settings', changes);
          const restart = reply?.restart_required ?? reply?.needs_restart;
          replace(
            status,
            Array.isArray(restart) && restart.length
              ? `Saved. Restart Concierge to apply: ${restart.join(', ')}.`
              : 'Saved.',
          );
          toast('Settings saved.');
          for (const field of fields) {
            const value = field.read();
            if (value !== undefined) field.original = value;
          }
        } catch (err) {
          replace(status, h('span', { class: 'alert' }, message(err)));
        } finally {
          save.disabled = false;
        }
      },
    },
    file && h('p', { class: 'muted small' }, `Saved to ${file}; changes apply when Concierge restarts.`),
    sections,
    h('div', { class: 'row sticky-actions' }, save, status),
  );
  replace(host, form);
}

function usersSection(): HTMLElement {
  const list = h('ul', { class: 'rows' }, loading());
  const name = h('input', { type: 'text', required: true, placeholder: 'Name', 'aria-label': 'User name', autocomplete: 'off' });
  const password = h('input', {
    type: 'password',
    required: true,
    placeholder: 'Password',
    'aria-label': 'Password',
    autocomplete: 'new-password',
    minlength: 8,
  });
  const role = h('select', { 'aria-label': 'Role' }, h('option', { value: 'viewer' }, 'viewer'), h('option', { value: 'admin' }, 'admin'));

  async function load(): Promise<void> {
    try {
      const users = await listAll<User>('/api/v1/users');
      replace(
        list,
        users.map((user) =>
          h(
            'li',
            { class: 'row between' },
            h('span', {}, h('strong', {}, user.name), ' ', h('span', { class: 'badge' }, user.role)),
            user.name !== currentUser()?.name &&
              h(
                'button',
                {
                  class: 'btn btn-small btn-quiet',
                  type: 'button',
                  onclick: async () => {
                    const ok = await confirmDialog({
                      title: `Remove ${user.name}?`,
                      message: 'They are signed out and can no longer sign in.',
                      confirmLabel: 'Remove',
                      danger: true,
                    });
                    if (!ok) return;
                    try {
                      await api<void>('DELETE', `/api/v1/users/${encodeURIComponent(user.name)}`);
                      void load();
                    } catch (err) {
                      toast(message(err), 'error');
                    }
                  },
                },
                'Remove',
              ),
          ),
        ),
      );
    } catch (err) {
      replace(list, h('li', {}, errorBox(err)));
    }
  }

  void load();
  return h(
    'section',
    { class: 'card stack' },
    h('h2', { class: 'card-title' }, 'Users'),
    list,
    h(
      'form',
      {
        class: 'row inline-form wrap',
        onsubmit: async (e: Event) => {
          e.preventDefault();
          try {
            await api<unknown>('POST', '/api/v1/users', { name: name.value.trim(), password: password.value, role: role.value });
            toast(`Added ${name.value.trim()}.`);
            name.value = '';
            password.value = '';
            void load();
          } catch (err) {
            toast(message(err), 'error');
          }
        },
      },
      name,
      password,
      role,
      h('button', { class: 'btn', type: 'submit' }, 'Add user'),
    ),
  );
}

function tokensSection(): HTMLElement {
  const list = h('ul', { class: 'rows' }, loading());
  const shown = h('div', {});
  const name = h('input', { type: 'text', required: true, placeholder: 'What the token is for', 'aria-label': 'Token name', autocomplete: 'off' });

  async function load(): Promise<void> {
    try {
      const tokens = await listAll<ApiToken>('/api/v1/tokens');
      replace(
        list,
        tokens.length
          ? tokens.map((token) =>
              h(
                'li',
                { class: 'row between' },
                h('span', {}, h('strong', {}, token.name), ' ', h('span', { class: 'muted small' }, formatTime(token.created_ms, token.created))),
                h(
                  'button',
                  {
                    class: 'btn btn-small btn-quiet',
                    type: 'button',
                    onclick: async () => {
                      const ok = await confirmDialog({
                        title: `Revoke “${token.name}”?`,
                        message: 'Scripts using it stop working at once.',
                        confirmLabel: 'Revoke',
                        danger: true,
                      });
                      if (!ok) return;
                      try {
                        await api<void>('DELETE', `/api/v1/tokens/${encodeURIComponent(String(token.id))}`);
                        void load();
                      } catch (err) {
                        toast(message(err), 'error');
                      }
                    },
                  },
                  'Revoke',
                ),
              ),
            )
          : h('li', { class: 'muted' }, 'No API tokens.'),
      );
    } catch (err) {
      replace(list, h('li', {}, errorBox(err)));
    }
  }

  void load();
  return h(
    'section',
    { class: 'card stack' },
    h('h2', { class: 'card-title' }, 'API tokens'),
    h('p', { class: 'muted small' }, 'For scripts: send “Authorization: Bearer <token>”.'),
    list,
    shown,
    h(
      'form',
      {
        class: 'row inline-form',
        onsubmit: async (e: Event) => {
          e.preventDefault();
          try {
            const token = await api<ApiToken>('POST', '/api/v1/tokens', { name: name.value.trim() });
            name.value = '';
            replace(
              shown,
              h(
                'div',
                { class: 'alert alert-info' },
                h('p', {}, 'Copy this token now; it is not shown again.'),
                h('code', { class: 'token' }, token.token ?? ''),
              ),
            );
            void load();
          } catch (err) {
            toast(message(err), 'error');
          }
        },
      },
      name,
      h('button', { class: 'btn', type: 'submit' }, 'Create token'),
    ),
  );
}

export function settingsPage(root: HTMLElement): void {
  replace(root, h('div', { class: 'page-head' }, h('h1', {}, 'Settings')));
  if (!isAdmin()) {
    root.appendChild(h('p', { class: 'empty' }, 'Only admins can change settings.'));
    return;
  }
  const form = h('div', {}, loading());
  root.append(form, usersSection(), tokensSection());
  // GET answers {"settings": {...}, "file": path, "file_only": [keys]}; PUT takes a partial of "settings".
  api<JsonObject>('GET', '/api/v1/settings')
    .then((reply) => {
      const fileOnly = Array.isArray(reply.file_only) ? reply.file_only.filter((k): k is string => typeof k === 'string') : [];
      if (isObject(reply.settings))
        settingsForm(reply.settings, typeof reply.file === 'string' ? reply.file : null, fileOnly, form);
      else settingsForm(reply, null, fileOnly, form);
    })
    .catch((err) => replace(form, errorBox(err)));
}
