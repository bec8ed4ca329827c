// Sign-in form.

import { ApiError } from '../api';
import { h, replace } from '../dom';
import { returnAfterLogin } from '../router';
import { login } from '../session';

export function loginPage(root: HTMLElement): void {
  const name = h('input', { name: 'name', autocomplete: 'username', required: true, autofocus: true });
  const password = h('input', {
    name: 'password',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
  });
  const message = h('p', { class: 'alert', role: 'alert', hidden: true });
  const submit = h('button', { class: 'btn btn-primary btn-block', type: 'submit' }, 'Sign in');
  const form = h(
    'form',
    {
      class: 'card login-card',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        submit.disabled = true;
        message.hidden = true;
        try {
          await login(name.value.trim(), password.value);
          returnAfterLogin();
        } catch (err) {
          const text =
            err instanceof ApiError && err.status === 401
              ? 'Wrong name or password.'
              : err instanceof ApiError && err.status === 429
                ? 'Too many attempts. Wait a few minutes and try again.'
                : err instanceof Error
                  ? err.message
                  : String(err);
          replace(message, text);
          message.hidden = false;
          password.value = '';
          password.focus();
        } finally {
          submit.disabled = false;
        }
      },
    },
    h('h1', { class: 'brand-large' }, 'Concierge'),
    h('p', { class: 'muted' }, 'Sign in to see who is at the door.'),
    h('label', { class: 'field' }, 'Name', name),
    h('label', { class: 'field' }, 'Password', password),
    message,
    submit,
  );
  replace(root, h('div', { class: 'login-wrap' }, form));
}
