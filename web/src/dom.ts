// Tiny DOM helpers. Every text goes in through textContent (never innerHTML), so
// names and other data from the API cannot inject markup.

export type Child = Node | string | number | null | undefined | false;
type AttrValue = string | number | boolean | null | undefined | EventListener;
export type Attrs = Record<string, AttrValue>;

// Creates <tag> with attributes ("onclick" etc. become listeners, booleans toggle,
// "value"/"checked" set the property) and children (falsy ones are skipped).
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'value' || key === 'checked') {
      (el as unknown as Record<string, unknown>)[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

// Appends children (nested arrays flattened, falsy skipped).
export function append(parent: Node, children: (Child | Child[])[]): void {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// Replaces all children of `parent`.
export function replace(parent: Node, ...children: (Child | Child[])[]): void {
  while (parent.firstChild) parent.removeChild(parent.firstChild);
  append(parent, children);
}

const dateTime = new Intl.DateTimeFormat(undefined, {
  dateStyle: 'medium',
  timeStyle: 'short',
});

// Local date and time of an epoch-ms value, or of an ISO string when ms is absent.
export function formatTime(ms: number | null | undefined, iso?: string | null): string {
  if (typeof ms === 'number' && ms > 0) return dateTime.format(new Date(ms));
  if (iso) {
    const parsed = Date.parse(iso);
    if (!Number.isNaN(parsed)) return dateTime.format(new Date(parsed));
  }
  return '—';
}

// "3 min ago"-style age of an epoch-ms value.
export function formatAge(ms: number | null | undefined): string {
  if (typeof ms !== 'number' || ms <= 0) return 'never';
  const seconds = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

// A number with at most `digits` decimals, or the value as text.
export function formatValue(value: unknown, digits = 2): string {
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(digits);
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (value === null || value === undefined) return '—';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

let toastHost: HTMLElement | null = null;

// Shows a short message in the corner for a few seconds.
export function toast(message: string, kind: 'ok' | 'error' = 'ok'): void {
  if (!toastHost) {
    toastHost = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.appendChild(toastHost);
  }
  const note = h('div', { class: `toast toast-${kind}` }, message);
  toastHost.appendChild(note);
  setTimeout(() => note.remove(), kind === 'error' ? 6000 : 3500);
}

// Asks for confirmation in a modal dialog. When `typed` is given the user must
// type it exactly before the confirm button enables (for destructive actions).
export function confirmDialog(options: {
  title: string;
  message: string;
  confirmLabel: string;
  danger?: boolean;
  typed?: string;
}): Promise<boolean> {
  return new Promise((resolve) => {
    const confirmButton = h(
      'button',
      { class: options.danger ? 'btn btn-danger' : 'btn btn-primary', type: 'submit' },
      options.confirmLabel,
    );
    const typedInput = options.typed
      ? h('input', {
          type: 'text',
          autocomplete: 'off',
          'aria-label': `Type ${options.typed} to confirm`,
          placeholder: options.typed,
        })
      : null;
    if (typedInput) {
      confirmButton.disabled = true;
      typedInput.addEventListener('input', () => {
        confirmButton.disabled = typedInput.value.trim() !== options.typed;
      });
    }
    const dialog = h('dialog', { class: 'dialog' });
    const close = (answer: boolean) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    const form = h(
      'form',
      {
        method: 'dialog',
        onsubmit: (e: Event) => {
          e.preventDefault();
          if (!confirmButton.disabled) close(true);
        },
      },
      h('h2', {}, options.title),
      h('p', {}, options.message),
      typedInput && h('label', { class: 'field' }, `Type “${options.typed}” to confirm`, typedInput),
      h(
        'div',
        { class: 'row end' },
        h('button', { class: 'btn', type: 'button', onclick: () => close(false) }, 'Cancel'),
        confirmButton,
      ),
    );
    dialog.appendChild(form);
    dialog.addEventListener('cancel', (e) => {
      e.preventDefault();
      close(false);
    });
    document.body.appendChild(dialog);
    dialog.showModal();
    (typedInput ?? confirmButton).focus();
  });
}

// A "Loading…" placeholder.
export function loading(): HTMLElement {
  return h('p', { class: 'muted' }, 'Loading…');
}

// An inline error box for a failed load.
export function errorBox(err: unknown): HTMLElement {
  return h('p', { class: 'alert' }, err instanceof Error ? err.message : String(err));
}
