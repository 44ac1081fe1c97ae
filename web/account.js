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

/**
 * {user, csrf} when this browser is signed in, or null. GET /session answers 200 either way (GET /me
 * answers 401 when signed out, which the browser would log as an error on every page load).
 */
export async function whoAmI() {
  const r = await api('GET', '/session');
  return r.status === 200 && r.json && typeof r.json.user === 'string' ? r.json : null;
}

/** POST /logout: ends this browser's session. Returns the api() answer (204 when done). */
export function signOut(me) {
  return api('POST', '/logout', undefined, { csrf: me && me.csrf });
}

/**
 * Fills `el` with who is signed in here and a way out ("Signed in as alice · Sign out"), or a link to
 * sign in (unless `signInLink` is false: the page offers signing in itself). `me` is whoAmI()'s answer
 * when the page has it already. After signing out, `onSignedOut` runs (by default the page reloads, so
 * it shows itself to a signed-out visitor).
 */
export async function showAccount(el, { me, signInLink = true, onSignedOut = () => location.reload() } = {}) {
  if (!el) return;
  me = me === undefined ? await whoAmI() : me;
  el.replaceChildren();
  if (!me && !signInLink) {
    el.dataset.user = '';
    return;
  }
  if (!me) {
    const link = document.createElement('a');
    link.href = signInUrl();
    link.textContent = 'Sign in';
    el.append(link);
    el.dataset.user = '';
    return;
  }
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'link sign-out';
  button.textContent = 'Sign out';
  button.addEventListener('click', async () => {
    button.disabled = true;
    const r = await signOut(me);
    button.disabled = false;
    if (r.status === 204) return onSignedOut();
    el.append(` — could not sign out: ${explain(r)}`);
  });
  el.append(`Signed in as ${me.user} · `, button);
  el.dataset.user = me.user;
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
