// The small HTTP surface: /healthz, static files from web_root, GET /channels/{ch}, and
// `herald --version`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { channelInfo, heraldBin, publishMany, request, startHerald, uniq, webRoot, within } from './lib/herald.mjs';

/** GET a path exactly as written (no URL normalisation) and return the status. */
function rawGetStatus(port, rawPath) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: rawPath }, (res) => {
        res.resume();
        resolve(res.statusCode);
      })
      .on('error', reject);
  });
}

/**
 * Send `text` on a fresh connection exactly as written and collect what comes back until the server
 * closes the connection (every exchange here ends with a refusal or a `Connection: close`).
 */
function rawExchange(port, text) {
  const answer = new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(text));
    let received = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk) => (received += chunk));
    socket.on('end', () => resolve(received));
    socket.on('error', reject);
  });
  return within(answer, 5000, 'the server closing the connection');
}

/** The answers in a raw response stream: [{status, body}] (Content-Length framed). */
function answersIn(text) {
  const answers = [];
  let rest = text;
  while (rest.startsWith('HTTP/1.1 ')) {
    const end = rest.indexOf('\r\n\r\n');
    const head = rest.slice(0, end);
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    const body = rest.slice(end + 4, end + 4 + length);
    let json;
    try {
      json = JSON.parse(body);
    } catch {}
    answers.push({ status: Number(head.slice(9, 12)), body, json });
    rest = rest.slice(end + 4 + length);
  }
  return answers;
}

let h;
before(async () => {
  h = await startHerald();
});
after(() => h?.stop());

describe('http', () => {
  it('GET /healthz → 200 {"status":"ok"}', async () => {
    const r = await request(`${h.url}/healthz`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { status: 'ok' });
  });

  it('HEAD answers keep their headers but carry no body, so keep-alive stays in step', async () => {
    // Two requests on one socket: a HEAD whose answer wrongly had a body would corrupt the second.
    const raw = await new Promise((resolve, reject) => {
      const socket = net.connect(h.port, '127.0.0.1', () => {
        socket.write('HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nHEAD /missing.txt HTTP/1.1\r\nHost: x\r\n\r\n' +
                     'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      });
      let text = '';
      socket.on('data', (chunk) => (text += chunk));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    const statuses = [...raw.matchAll(/^HTTP\/1\.1 (\d+)/gm)].map((m) => Number(m[1]));
    assert.deepEqual(statuses, [200, 404, 200]);
    assert.equal(raw.match(/\{"status":"ok"\}/g)?.length, 1, 'only the GET carries a body');
    assert.ok(!raw.includes('not_found'), 'the HEAD 404 carries no body');
  });

  it('405 names the allowed method', async () => {
    const r = await request(`${h.url}/pub/x`, { method: 'DELETE' });
    assert.equal(r.status, 405);
    assert.equal(r.headers.get('allow'), 'POST');
    assert.equal(r.json.error, 'method_not_allowed');
  });

  it('GET / serves web/index.html as text/html', async () => {
    const r = await request(`${h.url}/`);
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get('content-type') ?? '', /^text\/html/);
    assert.equal(r.text, await readFile(path.join(webRoot, 'index.html'), 'utf8'));
    const named = await request(`${h.url}/index.html`);
    assert.equal(named.status, 200);
    assert.equal(named.text, r.text);
  });

  it('a missing static file is 404 not_found, and ../ cannot leave web_root', async () => {
    const r = await request(`${h.url}/no-such-file-${Date.now()}.js`);
    assert.equal(r.status, 404);
    assert.equal(r.json?.error, 'not_found');
    // fetch normalises "../" away, so node:http sends these paths verbatim.
    for (const p of ['/../../../../etc/passwd', '/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2f..%2f..%2fetc/passwd']) {
      const status = await rawGetStatus(h.port, p);
      assert.notEqual(status, 200, `${p} must not serve a file outside web_root`);
    }
  });

  it('GET /channels/{ch} describes an unknown channel, then one with history', async () => {
    const ch = uniq('info');
    const empty = await request(`${h.url}/channels/${ch}`);
    assert.equal(empty.status, 200, empty.text);
    assert.deepEqual(empty.json, {
      channel: ch,
      last_id: null,
      history: 0,
      subscribers: { websocket: 0, sse: 0, longpoll: 0 },
      max_payload_bytes: 65536,
    });
    const ids = await publishMany(h.url, ch, [1, 2]);
    const full = await request(`${h.url}/channels/${ch}`);
    assert.equal(full.json.last_id, ids[1]);
    assert.equal(full.json.history, 2);
  });

  it("a target that is not a URL (the README's since=<cursor> pasted as is) is 400 with what to encode", async () => {
    const answer = await new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: h.port, path: '/sub/demo?since=<cursor>&wait=30' }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode, json: JSON.parse(body) }));
        })
        .on('error', reject);
    });
    assert.equal(answer.status, 400);
    assert.equal(answer.json.error, 'bad_request');
    assert.match(answer.json.message, /not a valid URL path: characters such as < > " and spaces must be percent-encoded/);
  });

  it('GET /channels/{bad name} → 400 bad_channel', async () => {
    const r = await request(`${h.url}/channels/a$b`);
    assert.equal(r.status, 400);
    assert.equal(r.json?.error, 'bad_channel');
  });

  it('herald --version prints a version and exits 0', async () => {
    const { stdout } = await promisify(execFile)(heraldBin, ['--version']);
    assert.match(stdout, /\d+\.\d+/);
  });

  it('a port already in use is said in one line, and herald exits 1', async () => {
    // The running test server holds h.port; a second herald on its config is asked for the same.
    const args = ['serve', '--listen', `127.0.0.1:${h.port}`, '--config', h.configFile];
    // (The timeout only ends a herald that started after all.)
    const failure = await promisify(execFile)(heraldBin, args, { timeout: 10000 }).then(() => null, (err) => err);
    assert.ok(failure, 'the second herald must not start');
    assert.equal(failure.code, 1);
    const lines = failure.stderr.trim().split('\n');
    const line = lines.find((l) => l.includes('cannot listen'));
    assert.ok(line, failure.stderr);
    assert.match(line, new RegExp(`critical cannot listen on 127\\.0\\.0\\.1:${h.port}: Address already in use \\(`));
    assert.doesNotMatch(failure.stderr, /boost|\.hpp|\[system:/, 'no source location, no Boost internals');
  });
});

// RFC 9112 §6.1 and §6.3: a request whose body length the server cannot tell for certain is refused and
// the connection closed, so nothing in it can be taken for a body or for another request (smuggling).
describe('request framing (Transfer-Encoding)', () => {
  const post = (ch, headers) => `POST /pub/${ch} HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\n` +
    `Content-Type: text/plain\r\n${headers.map((line) => `${line}\r\n`).join('')}\r\n`;

  /** One answer with this status and error code, then the connection closed; nothing published. */
  async function refusedAndClosed(ch, raw, status, error) {
    const answers = answersIn(await rawExchange(h.port, raw));
    assert.equal(answers.length, 1, `one answer, then the connection closes: ${JSON.stringify(answers)}`);
    assert.equal(answers[0].status, status, answers[0].body);
    assert.equal(answers[0].json?.error, error, answers[0].body);
    assert.equal((await channelInfo(h.url, ch)).history, 0, 'nothing was published');
    return answers[0];
  }

  it('a last coding other than chunked (xchunked with a Content-Length) is 400, not a body', async () => {
    const ch = uniq('te');
    const a = await refusedAndClosed(ch, post(ch, ['Transfer-Encoding: xchunked', 'Content-Length: 5']) + 'hello',
      400, 'bad_request');
    assert.match(a.json.message, /Transfer-Encoding/);
  });

  it('chunked, identity is 400: its chunks are not read as another request', async () => {
    const ch = uniq('te');
    const smuggled = `GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`;
    await refusedAndClosed(ch, post(ch, ['Transfer-Encoding: chunked, identity']) + smuggled, 400, 'bad_request');
  });

  it('identity alone, chunked twice, and Transfer-Encoding on HTTP/1.0 are 400', async () => {
    for (const headers of [['Transfer-Encoding: identity', 'Content-Length: 5'], ['Transfer-Encoding: identity'],
      ['Transfer-Encoding: chunked, chunked'], ['Transfer-Encoding:'], ['Transfer-Encoding: chunked', 'Transfer-Encoding: identity']]) {
      const ch = uniq('te');
      await refusedAndClosed(ch, post(ch, headers) + '5\r\nhello\r\n0\r\n\r\n', 400, 'bad_request');
    }
    const ch = uniq('te');
    const http10 = post(ch, ['Transfer-Encoding: chunked']).replace('HTTP/1.1', 'HTTP/1.0');
    await refusedAndClosed(ch, http10 + '5\r\nhello\r\n0\r\n\r\n', 400, 'bad_request');
  });

  it('Transfer-Encoding together with Content-Length is 400, in either order', async () => {
    for (const headers of [['Transfer-Encoding: chunked', 'Content-Length: 5'],
      ['Content-Length: 5', 'Transfer-Encoding: chunked']]) {
      const ch = uniq('te');
      await refusedAndClosed(ch, post(ch, headers) + '5\r\nhello\r\n0\r\n\r\n', 400, 'bad_request');
    }
  });

  it('gzip, chunked is 501: herald decodes no coding but chunked (however the list is split)', async () => {
    const ch = uniq('te');
    const a = await refusedAndClosed(ch, post(ch, ['Transfer-Encoding: gzip, chunked']) + '5\r\nhello\r\n0\r\n\r\n',
      501, 'unsupported_transfer_coding');
    assert.match(a.json.message, /gzip/);
    const b = await refusedAndClosed(ch, post(ch, ['Transfer-Encoding: GZIP', 'Transfer-Encoding: Chunked']) +
      '5\r\nhello\r\n0\r\n\r\n', 501, 'unsupported_transfer_coding');
    assert.match(b.json.message, /gzip/);
  });

  it('a chunked POST is read and published, and the connection stays usable', async () => {
    const ch = uniq('te');
    const raw = post(ch, ['Transfer-Encoding: chunked']) + '5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n' +
      `GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;
    const answers = answersIn(await rawExchange(h.port, raw));
    assert.deepEqual(answers.map((a) => a.status), [201, 200]);
    const r = await request(`${h.url}/sub/${ch}?last=1`);
    assert.equal(r.json.messages[0].data, 'hello world');
  });
});

// The web root may itself be a link (a deployment's `current -> release-42`), and a link inside it to
// a file inside it is served; a link that leads out of it (to a file or a directory) is not.
describe('symbolic links in web_root', () => {
  let dir, site;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'herald-root-'));
    const real = path.join(dir, 'release');
    await mkdir(path.join(real, 'sub'), { recursive: true });
    await mkdir(path.join(dir, 'outside'));
    await writeFile(path.join(real, 'index.html'), '<p>home</p>');
    await writeFile(path.join(real, 'sub', 'page.txt'), 'inside');
    await writeFile(path.join(dir, 'outside', 'secret.txt'), 'secret');
    await writeFile(path.join(dir, 'secret.txt'), 'secret');
    await symlink(path.join('sub', 'page.txt'), path.join(real, 'alias.txt')); // inside → inside
    await symlink(path.join(dir, 'secret.txt'), path.join(real, 'file-out.txt')); // absolute, out
    await symlink(path.join('..', 'secret.txt'), path.join(real, 'relative-out.txt')); // relative, out
    await symlink('/etc/passwd', path.join(real, 'passwd.txt'));
    await symlink(path.join(dir, 'outside'), path.join(real, 'dir-out')); // a directory out
    await symlink(real, path.join(dir, 'current'));
    site = await startHerald({ root: path.join(dir, 'current') });
  });
  after(async () => {
    await site?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the root through its link, and a link inside it to a file inside it', async () => {
    assert.equal((await request(`${site.url}/`)).text, '<p>home</p>');
    const alias = await request(`${site.url}/alias.txt`);
    assert.equal(alias.status, 200);
    assert.equal(alias.text, 'inside');
    assert.match(alias.headers.get('content-type'), /^text\/plain/);
  });

  it('a link to a file or a directory outside the root is 404', async () => {
    for (const p of ['/file-out.txt', '/relative-out.txt', '/passwd.txt', '/dir-out/secret.txt', '/dir-out/']) {
      const r = await request(`${site.url}${p}`);
      assert.equal(r.status, 404, `${p} answered ${r.status}: ${r.text.slice(0, 80)}`);
      assert.equal(r.json?.error, 'not_found');
    }
  });
});
