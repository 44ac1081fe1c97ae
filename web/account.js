// Small helpers shared by the login pages: JSON calls to herald, the CSRF token, safe redirects.

/**
 * fetch + JSON. Returns {status, json, headers}; `json` is null when the body is empty or not JSON.
 * `csrf` adds the X-Herald-CSRF header the state-changing calls of a signed-in browser need.
 */
export async function api(method, path, body, { csrf } = {}) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (csrf) headers['X-Herald-CSRF'] = csrf;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (err) {
    return { status: 0, json: { error: 'network', message: `The server could not be reached (${err.message}).` } };
  }
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {}
  return { status: res.status, json, headers: res.headers };
}

/** GET /me → {user, csrf} when signed in, or null. */
export async function whoAmI() {
  const r = await api('GET', '/me');
  return r.status === 200 && r.json ? r.json : null;
}

/**
 * The place to go back to after signing in, or `fallback`: `next` is resolved against this page's
 * origin, as the browser itself would, and followed only if the origin is unchanged. The answer is the
 * resolved absolute URL, never the path: a path such as `/.//evil.example` resolves to the path
 * `//evil.example`, which a browser reads again as another host. So no spelling (dot segments,
 * `%2e`, a tab or a backslash inside `//`, an absolute URL, `javascript:`) can send someone elsewhere
 * after they type their password (open redirect). A path that still begins with `//` once resolved is
 * refused too. Every page that follows such a parameter uses this.
 */
export function safeNext(next, fallback = '/') {
  if (typeof next !== 'string' || next === '') return fallback;
  try {
    const u = new URL(next, location.origin);
    if (u.origin !== location.origin) return fallback;
    // Same origin, but a path that reads as another host if anything ever takes the path alone.
    if (u.pathname.startsWith('//')) return fallback;
    return u.href;
  } catch {
    return fallback;
  }
}

/** The sign-in page, asked to come back to where we are now. */
export function signInUrl() {
  return '/signin.html?next=' + encodeURIComponent(location.pathname + location.search);
}

/** A readable sentence for an error answer. */
export function explain(r) {
  const j = r.json || {};
  // herald's own sentence says what was limited and when to retry; the generic one is for anything else.
  if (j.message) return j.message;
  if (r.status === 429) {
    const after = Number(r.headers && r.headers.get('Retry-After'));
    return `Too many requests. Try again${after > 0 ? ` in ${after} s` : ' in a minute'}.`;
  }
  if (j.error) return `${j.error} (${r.status})`;
  return `Unexpected answer (${r.status}).`;
}

/** Text content by id, for pages that only ever write text (never HTML). */
export function setText(id, text) {
  const el = document.getElementById(id);
  if (el) el.textContent = text;
  return el;
}
