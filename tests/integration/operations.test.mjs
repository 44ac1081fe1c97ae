// Running herald as a service: paths relative to the config file, GET /readyz (the broker, the drain),
// SIGHUP reloading what can change live (and refusing a bad config), and the paced drain on SIGTERM
// (each streaming client told when to come back, spread over limits.drain_window_seconds, and resuming
// from its cursor).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  chanPath,
  eventually,
  heraldBin,
  openSSE,
  openWS,
  poll,
  publish,
  request,
  startHerald,
  uniq,
  waitForSubscribers,
  within,
} from './lib/herald.mjs';
import { redisConfig, startRedis } from './lib/redis.mjs';

const dirs = [];
async function tempDir(prefix) {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** Run the herald CLI in `cwd`: {code, stdout, stderr}. */
function cli(args, { cwd, input } = {}) {
  try {
    const stdout = execFileSync(heraldBin, args, { cwd, input, stdio: 'pipe', encoding: 'utf8' });
    return { code: 0, stdout, stderr: '' };
  } catch (err) {
    return { code: err.status, stdout: String(err.stdout), stderr: String(err.stderr) };
  }
}

/** Waits until herald's log has a line matching `pattern` (the log is how herald answers a SIGHUP). */
function logged(h, pattern, what) {
  return eventually(() => pattern.test(h.logs()), { what: `herald logging ${what}` });
}

describe('paths in a config are relative to the config file', () => {
  it('web_root and login.database are found from the file, whatever directory herald starts in', async () => {
    const root = await tempDir('herald-paths-');
    await mkdir(path.join(root, 'etc'));
    await mkdir(path.join(root, 'share/www'), { recursive: true });
    await mkdir(path.join(root, 'elsewhere'));
    await writeFile(path.join(root, 'share/www/index.html'), 'served from the config-relative web root');
    const config = path.join(root, 'etc/herald.toml');
    await writeFile(config, 'web_root = "../share/www"\n[login]\ndatabase = "state.db"\n');
    const shell = path.join(root, 'elsewhere');

    const added = cli(['users', 'add', 'alice', '--password', 'pw-alice', '--config', config], { cwd: shell });
    assert.equal(added.code, 0, added.stderr);
    assert.ok(existsSync(path.join(root, 'etc/state.db')), 'the database is next to the config');
    assert.deepEqual(await readdir(shell), [], 'nothing is created in the shell directory');
    const listed = cli(['users', 'list', '--config', '../etc/herald.toml'], { cwd: shell });
    assert.equal(listed.stdout, 'alice\n', listed.stderr);

    const proc = spawn(heraldBin, ['serve', '--listen', '127.0.0.1:0', '--config', config], { cwd: shell });
    try {
      const port = await new Promise((resolve, reject) => {
        let log = '';
        proc.stderr.on('data', (chunk) => {
          log += chunk;
          const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
          if (m) resolve(Number(m[1]));
        });
        proc.once('exit', (code) => reject(new Error(`herald exited ${code}: ${log}`)));
      });
      const page = await request(`http://127.0.0.1:${port}/index.html`);
      assert.equal(page.status, 200);
      assert.equal(page.text, 'served from the config-relative web root');
    } finally {
      proc.kill('SIGKILL');
    }
  });

  it('herald users without --config refuses instead of creating ./herald.db', async () => {
    const shell = await tempDir('herald-noconfig-');
    const listed = cli(['users', 'list'], { cwd: shell });
    assert.deepEqual(await readdir(shell), [], 'no database appeared in the working directory');
    // On a machine with herald installed, the installed config is the default; otherwise a clear refusal.
    if (!existsSync('/etc/herald/herald.toml')) {
      assert.equal(listed.code, 2);
      assert.match(listed.stderr, /--config FILE/);
    }
  });
});

describe('GET /readyz', () => {
  it('is 200 while serving and 503 shutting_down once the node drains; /healthz stays liveness', async () => {
    const h = await startHerald({ config: '[limits]\nshutdown_grace_seconds = 5\n' });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = (p) =>
      new Promise((resolve, reject) => {
        const req = http.get(`${h.url}${p}`, { agent }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode, text, reused: req.reusedSocket }));
        });
        req.on('error', reject);
      });
    let raw;
    try {
      const ready = await get('/readyz');
      assert.equal(ready.status, 200);
      assert.deepEqual(JSON.parse(ready.text), { status: 'ready' });
      assert.equal((await get('/healthz')).status, 200);

      // A WebSocket that never answers the close frame keeps the node draining (up to the grace period).
      raw = net.connect(h.port, '127.0.0.1');
      raw.write(
        'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
      let seen = Buffer.alloc(0);
      const closeFrame = new Promise((resolve) =>
        raw.on('data', (chunk) => {
          seen = Buffer.concat([seen, chunk]);
          const head = seen.indexOf('\r\n\r\n');
          if (head >= 0 && seen.length > head + 4 && (seen[head + 4] & 0x0f) === 0x8) resolve();
        }),
      );
      await eventually(() => seen.includes('101 Switching Protocols'), { what: 'the upgrade' });
      h.proc.kill('SIGTERM');
      await within(closeFrame, 5000, 'the drain closing the WebSocket');

      const draining = await get('/readyz');
      assert.equal(draining.reused, true, 'asked on the connection opened before the drain');
      assert.equal(draining.status, 503);
      assert.equal(JSON.parse(draining.text).error, 'shutting_down');
    } finally {
      raw?.destroy();
      agent.destroy();
      await h.stop({ signal: 'SIGKILL' });
    }
  });

  it('is 503 broker_unavailable while Redis is unreachable, 200 again once it is back', async () => {
    const redis = await startRedis();
    const h = await startHerald({ config: redisConfig(redis) });
    try {
      await eventually(async () => (await request(`${h.url}/readyz`)).status === 200, { what: 'ready on Redis' });
      await redis.stop();
      await eventually(async () => (await request(`${h.url}/readyz`)).status === 503, {
        what: '/readyz saying 503 with Redis gone',
        timeoutMs: 10000,
      });
      const down = await request(`${h.url}/readyz`);
      assert.equal(down.json.error, 'broker_unavailable');
      assert.equal((await request(`${h.url}/healthz`)).status, 200, 'alive all the same');
      await redis.start();
      await eventually(async () => (await request(`${h.url}/readyz`)).status === 200, {
        what: '/readyz back to 200 with Redis back',
        timeoutMs: 10000,
      });
    } finally {
      await h.stop({ signal: 'SIGKILL' });
      await redis.remove();
    }
  });
});

describe('SIGHUP reloads the config', () => {
  const pub = (h, ch, key) => publish(h.url, ch, 'x', { headers: { Authorization: `Bearer ${key}` } });

  it('takes new publish keys, origins, namespaces and limits without dropping anyone', async () => {
    const h = await startHerald({
      config:
        'publish_key = "old-key"\nallowed_origins = ["https://one.example"]\n' +
        '[namespace.room]\nclient_publish = false\n[limits]\nmax_payload_bytes = 1000\n',
    });
    try {
      const ch = uniq('reload');
      const ws = openWS(`${h.wsUrl}/sub/${chanPath(ch)}`);
      await ws.opened;
      await waitForSubscribers(h.url, ch, { websocket: 1 });
      assert.equal((await pub(h, ch, 'old-key')).status, 201);
      const foreign = openWS(`${h.wsUrl}/ws`, { headers: { Origin: 'https://two.example' } });
      await assert.rejects(foreign.opened, 'another origin is refused before the reload');
      const room = uniq('room:r');
      assert.equal((await publish(h.url, room, 'as a client')).status, 401, 'room: no client publishing yet (a key is needed)');
      const big = (key) => publish(h.url, ch, 'y'.repeat(600), { headers: { Authorization: `Bearer ${key}` } });
      assert.equal((await big('old-key')).status, 201, '600 bytes fit under 1000');

      const text = await readFile(h.configFile, 'utf8');
      await writeFile(
        h.configFile,
        text
          .replace('"old-key"', '"new-key"')
          .replace('"https://one.example"', '"https://two.example"')
          .replace('client_publish = false', 'client_publish = true')
          .replace('max_payload_bytes = 1000', 'max_payload_bytes = 500'),
      );
      h.proc.kill('SIGHUP');
      await logged(h, /reload: applied the new config/, 'the reload');

      assert.equal((await pub(h, ch, 'old-key')).status, 403, 'the old key is gone');
      const sent = await pub(h, ch, 'new-key');
      assert.equal(sent.status, 201, sent.text);
      const allowed = openWS(`${h.wsUrl}/ws`, { headers: { Origin: 'https://two.example' } });
      await allowed.opened;
      allowed.close();
      assert.equal((await publish(h.url, room, 'as a client')).status, 201, 'room: clients may publish now');
      assert.equal((await big('new-key')).status, 413, 'the payload limit is 500 now');
      // The subscriber from before the reload is still there and hears every message.
      await ws.frames.waitFor(3);
      assert.equal(h.proc.exitCode, null);
      ws.close();
    } finally {
      await h.stop({ signal: 'SIGKILL' });
    }
  });

  it('refuses a config that does not load, keeping the running one, and names what needs a restart', async () => {
    const h = await startHerald({ config: 'publish_key = "kept-key"\n' });
    try {
      const ch = uniq('refused');
      const text = await readFile(h.configFile, 'utf8');
      await writeFile(h.configFile, text.replace('publish_key = "kept-key"', 'publish_key = 42'));
      h.proc.kill('SIGHUP');
      await logged(h, /reload: refused, the running config stays: .*publish_key' must be a string/, 'the refusal');
      assert.equal((await pub(h, ch, 'kept-key')).status, 201, 'the old config still holds');

      await writeFile(h.configFile, `threads = 3\n${text.replace('"kept-key"', '"next-key"')}`);
      h.proc.kill('SIGHUP');
      await logged(h, /reload: 'threads' changed; it takes effect at the next restart/, 'threads needing a restart');
      await logged(h, /reload: applied/, 'the rest applied');
      assert.equal((await pub(h, ch, 'next-key')).status, 201);
    } finally {
      await h.stop({ signal: 'SIGKILL' });
    }
  });

  it('serves new TLS handshakes with a new certificate', async () => {
    const dir = await tempDir('herald-reload-tls-');
    const makeCert = (name) =>
      execFileSync('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
        '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1',
        '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
      ], { stdio: 'pipe' });
    makeCert('first');
    const h = await startHerald({
      config:
        `broker = "memory"\n[tls]\ncertificate_file = ${JSON.stringify(path.join(dir, 'cert.pem'))}\n` +
        `private_key_file = ${JSON.stringify(path.join(dir, 'key.pem'))}\n`,
    });
    const subjectOf = () =>
      new Promise((resolve, reject) => {
        const req = https.get(`${h.url}/healthz`, { rejectUnauthorized: false, agent: false }, (res) => {
          const cn = res.socket.getPeerCertificate().subject.CN;
          res.resume();
          res.on('end', () => resolve(cn));
        });
        req.on('error', reject);
      });
    try {
      assert.equal(await subjectOf(), 'first');
      makeCert('second');
      h.proc.kill('SIGHUP');
      await logged(h, /reload: applied/, 'the reload');
      assert.equal(await subjectOf(), 'second');
    } finally {
      await h.stop({ signal: 'SIGKILL' });
    }
  });
});

describe('paced drain on SIGTERM', () => {
  const WINDOW_S = 4;
  const EACH = 12;

  it('tells every streaming client when to come back, spread over the window, and they resume by cursor', async () => {
    const dir = await tempDir('herald-drain-');
    const config = `[limits]\ndrain_window_seconds = ${WINDOW_S}\nshutdown_grace_seconds = 3\n`;
    let h = await startHerald({ config, dir });
    const port = h.port;
    const ch = uniq('drain');
    let restarted;
    try {
      const first = await publish(h.url, ch, 'before');
      assert.equal(first.status, 201);
      const cursor = first.json.id;
      const sses = Array.from({ length: EACH }, () => openSSE(`${h.url}/sub/${chanPath(ch)}?since=${cursor}`));
      const wss = Array.from({ length: EACH }, () => openWS(`${h.wsUrl}/sub/${chanPath(ch)}?since=${cursor}`));
      await Promise.all([...sses.map((s) => s.response), ...wss.map((w) => w.opened)]);
      const polls = Array.from({ length: EACH }, () => poll(h.url, ch, { since: cursor, wait: 30 }));
      await waitForSubscribers(h.url, ch, { sse: EACH, websocket: EACH, longpoll: EACH });

      h.proc.kill('SIGTERM');
      const [ended, closed, answered] = await within(
        Promise.all([Promise.all(sses.map((s) => s.ended)), Promise.all(wss.map((w) => w.closed)), Promise.all(polls)]),
        6000,
        'every client told to go',
      );
      assert.ok(ended.every((e) => e.clean));
      const sseRetry = sses.map((s) => s.retry);
      const wsRetry = closed.map(({ code, reason }) => {
        assert.equal(code, 1001);
        return Number(/^retry_ms=(\d+)$/.exec(reason)?.[1]);
      });
      const pollRetry = answered.map((r) => {
        assert.equal(r.status, 204);
        assert.equal(r.cursor, cursor, 'the long poll carries its cursor');
        return Number(r.headers.get('retry-after')) * 1000;
      });
      for (const [name, values] of Object.entries({ sse: sseRetry, websocket: wsRetry, longpoll: pollRetry })) {
        for (const v of values) {
          assert.ok(Number.isInteger(v) && v >= 0 && v <= WINDOW_S * 1000, `${name}: come back after ${v} ms`);
        }
        // Spread over the window, not bunched: the chance that 12 even draws fall within a quarter of it
        // is a few in a million.
        const spread = Math.max(...values) - Math.min(...values);
        assert.ok(spread >= (WINDOW_S * 1000) / 4, `${name}: ${values.join(', ')} are not spread over the window`);
      }
      await within(h.exited, 6000, 'herald exiting');

      // Back on the same port: each resumes from its cursor and hears what was published since.
      restarted = await startHerald({ config, dir, port });
      h = restarted;
      const next = await publish(h.url, ch, 'after');
      assert.equal(next.status, 201);
      const resumedPoll = await poll(h.url, ch, { since: answered[0].cursor });
      assert.equal(resumedPoll.status, 200);
      assert.ok(resumedPoll.json.messages.some((m) => m.data === 'after'), resumedPoll.text);
      const resumedSse = openSSE(`${h.url}/sub/${chanPath(ch)}`, { headers: { 'Last-Event-ID': cursor } });
      await resumedSse.events.waitForItem((e) => e.data === 'after');
      resumedSse.close();
      const resumedWs = openWS(`${h.wsUrl}/sub/${chanPath(ch)}?since=${cursor}`);
      await resumedWs.frames.waitForItem((f) => f.data === 'after');
      resumedWs.close();
    } finally {
      await h.stop({ signal: 'SIGKILL' });
    }
  });
});
