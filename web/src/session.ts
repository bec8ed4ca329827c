// Who is signed in. The session itself is the HttpOnly cookie; this keeps the
// user and CSRF token for the UI, and a flag in localStorage so that a fresh tab
// only asks /me when a session may exist (no needless 401 on the login page).

import { api, setCsrfToken, type User } from './api';

interface SessionReply {
  user: User;
  csrf_token: string;
}

const SIGNED_IN_KEY = 'concierge.signedIn';
let current: User | null = null;

// The signed-in user, or null.
export function currentUser(): User | null {
  return current;
}

// True when the signed-in user may change things.
export function isAdmin(): boolean {
  return current?.role === 'admin';
}

function remember(reply: SessionReply): User {
  current = reply.user;
  setCsrfToken(reply.csrf_token);
  localStorage.setItem(SIGNED_IN_KEY, '1');
  return reply.user;
}

// Forgets the local state (after logout or when the server says 401).
export function clearSession(): void {
  current = null;
  setCsrfToken('');
  localStorage.removeItem(SIGNED_IN_KEY);
}

// Restores the session from the cookie; resolves to null when there is none.
export async function restoreSession(): Promise<User | null> {
  if (!localStorage.getItem(SIGNED_IN_KEY)) return null;
  try {
    return remember(await api<SessionReply>('GET', '/api/v1/me'));
  } catch {
    clearSession();
    return null;
  }
}

// Signs in; throws ApiError (401 wrong credentials, 429 too many attempts).
export async function login(name: string, password: string): Promise<User> {
  return remember(await api<SessionReply>('POST', '/api/v1/login', { name, password }));
}

// Signs out on the server (best effort) and locally.
export async function logout(): Promise<void> {
  try {
    await api<void>('POST', '/api/v1/logout');
  } finally {
    clearSession();
  }
}
