// Audit log: every tag, ignore, forget, login and settings change, newest first.

import { api, withQuery, type AuditEntry, type Page } from '../api';
import { errorBox, formatTime, formatValue, h, replace } from '../dom';
import { isAdmin } from '../session';

export function auditPage(root: HTMLElement): void {
  const list = h('div', { class: 'audit' });
  const more = h('button', { class: 'btn', type: 'button', hidden: true }, 'Load more');
  let cursor: string | null = null;

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
      h('div', { class: 'audit-what' }, h('span', { class: 'badge' }, item.action), ' ', item.target || ''),
      h('div', { class: 'audit-actor small' }, item.actor),
      detail && h('div', { class: 'audit-detail small muted' }, detail),
    );
  }

  async function load(): Promise<void> {
    try {
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
