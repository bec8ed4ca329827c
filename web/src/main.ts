// Entry: the app shell (header, navigation, main area) and the route table.

import { setUnauthorizedHandler } from './api';
import { h, replace, toast } from './dom';
import {
  currentPath,
  defaultPath,
  match,
  navigate,
  rememberReturnPath,
  type Route,
} from './router';
import { clearSession, currentUser, logout, restoreSession } from './session';
import { auditPage } from './pages/audit';
import { livePage } from './pages/live';
import { loginPage } from './pages/login';
import { peoplePage, personPage } from './pages/people';
import { settingsPage } from './pages/settings';
import { timelinePage } from './pages/timeline';
import { todayPage } from './pages/today';
import { unknownsPage } from './pages/unknowns';

const routes: Route[] = [
  { pattern: 'login', title: 'Sign in', page: loginPage, public: true },
  { pattern: 'today', title: 'Today', page: todayPage },
  { pattern: 'live', title: 'Live', page: livePage },
  { pattern: 'timeline', title: 'Timeline', page: timelinePage },
  { pattern: 'unknowns', title: 'Who is this?', page: unknownsPage },
  { pattern: 'people', title: 'People', page: peoplePage },
  { pattern: 'people/:id', title: 'Person', page: personPage },
  { pattern: 'settings', title: 'Settings', page: settingsPage },
  { pattern: 'audit', title: 'Audit log', page: auditPage },
];
const navItems = ['today', 'live', 'timeline', 'unknowns', 'people', 'settings', 'audit'];
const DEFAULT_PATH = defaultPath();

const app = document.getElementById('app') as HTMLElement;
let cleanup: (() => void) | void;

function header(path: string): HTMLElement {
  const user = currentUser();
  const nav = h(
    'nav',
    { class: 'nav', id: 'nav' },
    navItems.map((item) => {
      const route = routes.find((r) => r.pattern === item)!;
      const active = path === item || path.startsWith(item + '/');
      return h(
        'a',
        { href: '#/' + item, class: active ? 'active' : null, 'aria-current': active ? 'page' : null },
        route.title,
      );
    }),
    user &&
      h(
        'span',
        { class: 'nav-user' },
        h('span', { class: 'muted' }, `${user.name} · ${user.role}`),
        h(
          'button',
          {
            class: 'btn btn-small',
            type: 'button',
            onclick: async () => {
              await logout().catch(() => undefined);
              navigate('login');
            },
          },
          'Sign out',
        ),
      ),
  );
  const toggle = h(
    'button',
    {
      class: 'btn btn-small nav-toggle',
      type: 'button',
      'aria-controls': 'nav',
      'aria-expanded': 'false',
      onclick: () => {
        const open = nav.classList.toggle('open');
        toggle.setAttribute('aria-expanded', String(open));
      },
    },
    'Menu',
  );
  return h('header', { class: 'topbar' }, h('a', { class: 'brand', href: '#/timeline' }, 'Concierge'), toggle, nav);
}

function render(): void {
  if (typeof cleanup === 'function') cleanup();
  cleanup = undefined;
  const path = currentPath() || DEFAULT_PATH;
  const found = match(routes, path);
  if (!found) {
    navigate(DEFAULT_PATH);
    return;
  }
  if (!found.route.public && !currentUser()) {
    rememberReturnPath(path);
    navigate('login');
    return;
  }
  if (found.route.pattern === 'login' && currentUser()) {
    navigate(DEFAULT_PATH);
    return;
  }
  document.title = `${found.route.title} · Concierge`;
  const main = h('main', { class: 'content', id: 'main' });
  if (found.route.public) replace(app, main);
  else replace(app, header(path), main);
  cleanup = found.route.page(main, found.params);
}

setUnauthorizedHandler(() => {
  if (!currentUser()) return;
  clearSession();
  toast('Your session ended. Please sign in again.', 'error');
  rememberReturnPath(currentPath());
  navigate('login');
});

window.addEventListener('hashchange', render);
restoreSession().finally(render);
