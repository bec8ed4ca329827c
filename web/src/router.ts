// Hash router: "#/people/abc" -> the "people/:id" route with {id: "abc"}. Hash
// URLs work from any static server and never hit the API's 404s.

export type Params = Record<string, string>;
// A page renders into `root` and may return a cleanup (close streams, timers).
export type PageFn = (root: HTMLElement, params: Params) => void | (() => void);

export interface Route {
  pattern: string; // "people/:id"
  title: string;
  page: PageFn;
  public?: boolean;
}

// The current route path without "#/", e.g. "people/abc".
export function currentPath(): string {
  return location.hash.replace(/^#\/?/, '').split('?')[0];
}

// Goes to `path` ("people/abc").
export function navigate(path: string): void {
  const target = '#/' + path.replace(/^#?\/?/, '');
  if (location.hash === target) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = target;
}

// The route matching `path` and its parameters, or null.
export function match(routes: Route[], path: string): { route: Route; params: Params } | null {
  const parts = path.split('/').filter(Boolean);
  for (const route of routes) {
    const pattern = route.pattern.split('/').filter(Boolean);
    if (pattern.length !== parts.length) continue;
    const params: Params = {};
    const ok = pattern.every((segment, i) => {
      if (segment.startsWith(':')) {
        params[segment.slice(1)] = decodeURIComponent(parts[i]);
        return true;
      }
      return segment === parts[i];
    });
    if (ok) return { route, params };
  }
  return null;
}

const DEFAULT_PATH = 'timeline';
let returnPath = DEFAULT_PATH;

// The page to open when no route is given, and after signing in by default.
export function defaultPath(): string {
  return DEFAULT_PATH;
}

// Remembers the page a signed-out user wanted, to return there after login.
export function rememberReturnPath(path: string): void {
  returnPath = path && path !== 'login' ? path : DEFAULT_PATH;
}

// After a successful login: back to the page that asked for it.
export function returnAfterLogin(): void {
  const target = returnPath;
  returnPath = DEFAULT_PATH;
  navigate(target);
}
