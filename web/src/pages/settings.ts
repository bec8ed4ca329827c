// Settings (admin): the settings the server sends, in plain words with help
// and units (settings_help.ts), the everyday ones first and the advanced ones
// folded; saved as a partial PUT of only the changed fields, then a restart
// offered for what waits for one. Then users and API tokens.

import { api, listAll, type ApiToken, type User } from '../api';
import { confirmDialog, errorBox, formatTime, h, loading, replace, toast } from '../dom';
import { currentUser, isAdmin } from '../session';
import {
  derivedLabel,
  describeSetting,
  SECTION_TITLES,
  SETTINGS_HELP,
  type SettingGroup,
  type SettingHelp,
} from '../settings_help';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
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

// The label, the input with its unit beside it, and the help text under it;
// the input is described by the unit and the help (aria-describedby).
function fieldBox(
  path: string[],
  help: SettingHelp & { known: boolean },
  control: HTMLElement,
  labelText: string,
): HTMLElement {
  const id = control.id;
  const unitId = `${id}-unit`;
  const helpId = `${id}-help`;
  const describedBy = [help.unit ? unitId : '', help.help ? helpId : ''].filter(Boolean).join(' ');
  if (describedBy) control.setAttribute('aria-describedby', describedBy);
  const unit = help.unit && h('span', { class: 'unit muted small', id: unitId }, help.unit);
  const note = help.help && h('small', { class: 'help muted', id: helpId }, help.help);
  const attrs = { class: 'field', 'data-setting': path.join('.'), 'data-described': help.known ? null : 'false' };
  if (control instanceof HTMLInputElement && control.type === 'checkbox')
    return h('div', attrs, h('label', { class: 'field-check', for: id }, control, labelText), note);
  return h('div', attrs, h('label', { for: id }, labelText), h('div', { class: 'row inline-form' }, control, unit), note);
}

function readOnlyField(path: string[], value: Json, help: SettingHelp & { known: boolean }): HTMLElement {
  const input = h('input', {
    type: 'text',
    id: 'setting-' + path.join('-'),
    value: typeof value === 'string' ? value : JSON.stringify(value),
    name: path.join('.'),
    readonly: true,
    title: 'Set in the config file or the environment',
  });
  return fieldBox(path, help, input, `${help.label} (config file only)`);
}

// A list of worded choices; a stored value that is none of them stays selectable as "Custom".
function choiceField(path: string[], value: string | number, help: SettingHelp & { known: boolean }, fields: Field[]): HTMLElement {
  const choices = [...(help.choices ?? [])];
  if (!choices.some((c) => c.value === value)) choices.push({ value, label: `Custom (${value})` });
  const select = h(
    'select',
    { id: 'setting-' + path.join('-'), name: path.join('.') },
    choices.map((c, i) => h('option', { value: String(i) }, c.label)),
  );
  select.selectedIndex = choices.findIndex((c) => c.value === value);
  fields.push({ path, original: value, read: () => choices[select.selectedIndex]?.value });
  return fieldBox(path, help, select, help.label);
}

function fieldFor(path: string[], value: Json, fields: Field[], fileOnly: string[]): HTMLElement {
  const help = describeSetting(path.join('.'));
  if (isFileOnly(path, fileOnly)) return readOnlyField(path, value, help);
  const key = path[path.length - 1];
  const id = 'setting-' + path.join('-');
  if (help.choices && (typeof value === 'string' || typeof value === 'number'))
    return choiceField(path, value, help, fields);
  if (typeof value === 'boolean') {
    const input = h('input', { type: 'checkbox', id, checked: value, name: path.join('.') });
    fields.push({ path, original: value, read: () => input.checked });
    return fieldBox(path, help, input, help.label);
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
    return fieldBox(path, help, input, help.label);
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
    return fieldBox(path, help, area, `${help.label} (JSON list)`);
  }
  const secret = /password|secret|token|key/i.test(key);
  const input = h('input', {
    type: secret ? 'password' : 'text',
    id,
    value: typeof value === 'string' ? value : '',
    name: path.join('.'),
    autocomplete: 'off',
  });
  fields.push({ path, original: value, read: () => (value === null && input.value === '' ? null : input.value) });
  return fieldBox(path, help, input, help.label);
}

function setPath(target: JsonObject, path: string[], value: Json): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (!isObject(node[key])) node[key] = {};
    node = node[key] as JsonObject;
  }
  node[path[path.length - 1]] = value;
}

// Every setting as its path and value; lists (cameras) are one setting.
function leaves(value: Json, path: string[]): { path: string[]; value: Json }[] {
  if (!isObject(value)) return [{ path, value }];
  return Object.entries(value).flatMap(([k, v]) => leaves(v, [...path, k]));
}

// The settings of one group, under their sections' titles in SECTION_TITLES order.
function groupSections(
  group: SettingGroup,
  settings: JsonObject,
  fields: Field[],
  fileOnly: string[],
): HTMLElement[] {
  const bySection = new Map<string, HTMLElement[]>();
  // In the order of the descriptions (most used first); unknown keys last.
  const known = Object.keys(SETTINGS_HELP);
  const place = (path: string[]) => {
    const i = known.indexOf(path.join('.'));
    return i < 0 ? known.length : i;
  };
  const ordered = leaves(settings, []).sort((a, b) => place(a.path) - place(b.path));
  for (const leaf of ordered) {
    if (describeSetting(leaf.path.join('.')).group !== group) continue;
    const section = leaf.path.length > 1 ? leaf.path[0] : 'general';
    if (!bySection.has(section)) bySection.set(section, []);
    bySection.get(section)?.push(fieldFor(leaf.path, leaf.value, fields, fileOnly));
  }
  const order = Object.keys(SECTION_TITLES);
  const rank = (key: string) => (order.includes(key) ? order.indexOf(key) : order.length);
  return [...bySection.entries()]
    .sort(([a], [b]) => rank(a) - rank(b))
    .map(([section, inputs]) =>
      h(
        'fieldset',
        { class: 'subsection', 'data-section': section },
        h('legend', {}, SECTION_TITLES[section] ?? derivedLabel(section)),
        h('div', { class: 'fields' }, inputs),
      ),
    );
}

const HEALTH_POLL_MS = 1000;
const GONE_WAIT_MS = 60_000; // the old process finishes its queued work (serve.stop_timeout_ms)
const BACK_WAIT_MS = 180_000; // the new one loads the face models

async function healthy(): Promise<boolean> {
  try {
    return (await fetch('/healthz', { cache: 'no-store' })).ok;
  } catch {
    return false;
  }
}

// Polls /healthz until it answers `up`, at most `ms`; false on timeout.
async function waitForHealth(up: boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if ((await healthy()) === up) return true;
    await new Promise((r) => window.setTimeout(r, HEALTH_POLL_MS));
  }
  return false;
}

// "These changes take effect after a restart: …" with a Restart now button;
// `pending` collects the dotted keys saved since the last restart.
function restartPrompt(box: HTMLElement, pending: Set<string>, shared: boolean): void {
  if (!pending.size) {
    replace(box);
    return;
  }
  const labels = [...pending].map((key) => describeSetting(key).label);
  const progress = h('span', { class: 'small', role: 'status' });
  const button = h('button', { class: 'btn btn-primary', type: 'button' }, 'Restart now');
  button.addEventListener('click', async () => {
    button.disabled = true;
    replace(progress, 'Restarting…');
    try {
      await api<unknown>('POST', '/api/v1/restart');
    } catch (err) {
      replace(progress, h('span', { class: 'alert' }, message(err)));
      button.disabled = false;
      return;
    }
    // Down first (so the old process is not taken for the new one), then up again.
    await waitForHealth(false, GONE_WAIT_MS);
    if (await waitForHealth(true, BACK_WAIT_MS)) {
      pending.clear();
      replace(box, h('p', { class: 'alert alert-info', role: 'status' }, 'Restarted. The changes are in effect.'));
    } else {
      replace(progress, h('span', { class: 'alert' }, 'Concierge did not come back within 3 minutes; see its log.'));
      button.disabled = false;
    }
  });
  replace(
    box,
    h(
      'div',
      { class: 'alert alert-info stack restart-prompt' },
      h('p', {}, `These changes take effect after a restart: ${labels.join(', ')}.`),
      shared && h('p', { class: 'small' }, 'This restarts this server; the others apply them when they restart.'),
      h('div', { class: 'row wrap' }, button, progress),
    ),
  );
}

// What GET /api/v1/settings answers, as the form uses it.
interface SettingsReply {
  settings: JsonObject;
  file: string | null; // this server's config file: where secrets are saved
  shared: boolean; // the other settings are in a database every server reads
  fileOnly: string[];
  restartRequired: string[]; // saved, but not in force on this server yet
}

function whereSaved(reply: SettingsReply): string {
  const where = reply.shared ? 'in the database, for every server' : 'in the database';
  const secrets = reply.file ? `; tokens and passwords in ${reply.file} on this server` : '';
  return `Saved ${where}${secrets}.`;
}

function settingsForm(reply: SettingsReply, host: HTMLElement): void {
  const { settings, fileOnly, shared } = reply;
  const fields: Field[] = [];
  const everyday = h(
    'section',
    { class: 'card section', 'data-group': 'everyday', 'aria-labelledby': 'settings-everyday' },
    h('h2', { class: 'card-title', id: 'settings-everyday' }, 'Everyday'),
    groupSections('everyday', settings, fields, fileOnly),
  );
  // Folded: what only whoever installed Concierge should need to touch.
  const advanced = h(
    'details',
    { class: 'card section', 'data-group': 'advanced' },
    h('summary', {}, 'Advanced'),
    groupSections('advanced', settings, fields, fileOnly),
  );
  const status = h('p', { class: 'small', role: 'status' });
  const restartBox = h('div', {});
  const pending = new Set<string>(reply.restartRequired);
  restartPrompt(restartBox, pending, shared);
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
            toast(`${describeSetting(field.path.join('.')).label} is not valid.`, 'error');
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
          const restart = reply?.restart_required;
          replace(status, 'Saved.');
          toast('Settings saved.');
          for (const field of fields) {
            const value = field.read();
            if (value !== undefined) field.original = value;
          }
          // The server lists every saved change not yet in force, this one's included.
          if (Array.isArray(restart)) {
            pending.clear();
            for (const key of restart) if (typeof key === 'string') pending.add(key);
          }
          restartPrompt(restartBox, pending, shared);
        } catch (err) {
          replace(status, h('span', { class: 'alert' }, message(err)));
        } finally {
          save.disabled = false;
        }
      },
    },
    h('p', { class: 'muted small' }, whereSaved(reply)),
    everyday,
    advanced,
    h('div', { class: 'row sticky-actions' }, save, status, restartBox),
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
  // GET answers {settings, file, shared, file_only, restart_required}; PUT takes a partial of "settings".
  api<JsonObject>('GET', '/api/v1/settings')
    .then((reply) => {
      const strings = (value: Json | undefined): string[] =>
        Array.isArray(value) ? value.filter((k): k is string => typeof k === 'string') : [];
      settingsForm(
        {
          settings: isObject(reply.settings) ? reply.settings : reply,
          file: typeof reply.file === 'string' ? reply.file : null,
          shared: reply.shared === true,
          fileOnly: strings(reply.file_only),
          restartRequired: strings(reply.restart_required),
        },
        form,
      );
    })
    .catch((err) => replace(form, errorBox(err)));
}
