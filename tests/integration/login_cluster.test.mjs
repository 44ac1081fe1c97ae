// The cross-device login on two herald nodes on one Redis (docs/scaling.md, "Cross-device login"): a node
// killed mid-login, the other finishes it; racing exchanges and decisions on both nodes have exactly one
// winner; the login rate limits count both nodes' attempts together; an account added or removed through
// either node's config is so on both; Redis going away mid-login answers 503 and the waiting screen, still
// connected, hears the outcome once it is back. Always two nodes on a Redis of this file's own (the whole
// login suite also runs on two nodes behind a random balancer in the Redis pass: lib/herald.mjs,
// startBalanced).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { eventually, heraldBin, startHerald } from './lib/herald.mjs';
import {
  ALICE,
  Client,
  madeUpSecret,
  phoneFor,
  postFrom,
  listenAsScreen,
  scanAndApprove,
  show,
  signIn,
  startScreen,
  NO_LIMITS,
} from './lib/login.mjs';
import { redisConfig, startRedis } from './lib/redis.mjs';

/** Two nodes on `redis`; `login` is TOML for [login]. ALICE is added through the first node only. */
async function twoNodes(redis, login = NO_LIMITS) {
  const a = await startHerald({ config: redisConfig(redis), login, users: [ALICE] });
  const b = await startHerald({ config: redisConfig(redis), login });
  return [a, b];
}

function users(node, ...args) {
  return execFileSync(heraldBin, ['users', ...args, '--config', node.configFile], { encoding: 'utf8', stdio: 'pipe' });
}

describe('a login across two nodes', () => {
  let redis;
  let nodes = [];
  before(async () => {
    redis = await startRedis();
    nodes = await twoNodes(redis);
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await redis?.remove();
  });

  it('two nodes racing ten exchanges of one request: exactly one session', async () => {
    const [a, b] = nodes;
    const { screen, start, qr } = await startScreen(a.url);
    await scanAndApprove(await phoneFor(b.url, ALICE.name, ALICE.password), qr, start.match_number);
    const cookie = screen.cookieHeader('/login/exchange');
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => {
        const node = i % 2 ? b : a;
        return fetch(`${node.url}/login/exchange`, { method: 'POST', headers: { Cookie: cookie, Origin: node.url } });
      }),
    );
    const statuses = answers.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 410, 410, 410, 410, 410, 410, 410, 410, 410], `statuses ${statuses}`);
    const winner = answers.find((r) => r.status === 200);
    assert.deepEqual(await winner.json(), { user: 'alice' });
  });

  it('two decisions of one request on two nodes at once: exactly one is taken, and the screen hears it alone', async () => {
    const [a, b] = nodes;
    for (let round = 0; round < 5; round++) {
      const { screen, start, qr } = await startScreen(a.url);
      const events = await listenAsScreen(screen, 'sse');
      const onA = await phoneFor(a.url, ALICE.name, ALICE.password);
      const onB = new Client(b.url);
      onB.jar = onA.jar; // the same phone, its requests reaching either node
      onB.csrf = onA.csrf;
      try {
        const scan = await onA.post('/login/scan', { c: qr });
        assert.equal(scan.status, 200, show(scan));
        const [approve, deny] = await Promise.all([
          onA.post('/login/decide', { id: start.id, decision: 'approve', number: start.match_number }),
          onB.post('/login/decide', { id: start.id, decision: 'deny' }),
        ]);
        const won = [approve, deny].filter((r) => r.status === 200);
        assert.equal(won.length, 1, `one decision is taken: ${show(approve)} / ${show(deny)}`);
        const lost = approve.status === 200 ? deny : approve;
        assert.equal(lost.status, 404, `the other finds nothing to decide: ${show(lost)}`);
        const outcome = won[0].json.state;
        await events.next(outcome);
        const status = await new Client(b.url).get('/login/status', { headers: { Cookie: screen.cookieHeader('/login/status') } });
        assert.equal(status.json?.state, outcome, show(status));
        const heard = events.events.items.map((e) => e.event);
        assert.deepEqual(heard, ['scanned', outcome], `the screen heard one decision: ${heard}`);
      } finally {
        events.close();
      }
    }
  });

  it('an account added through one node\'s config signs in on the other; removed, its sessions end everywhere', async () => {
    const [a, b] = nodes;
    users(b, 'add', 'carol', '--password', 'carol pass 1');
    assert.match(users(a, 'list'), /^alice\ncarol\n$/);
    const carol = new Client(a.url);
    await signIn(carol, 'carol', 'carol pass 1');
    const onB = new Client(b.url);
    onB.jar = carol.jar;
    assert.equal((await onB.get('/me')).json?.user, 'carol', 'the session from A is good on B');

    users(a, 'passwd', 'carol', '--password', 'carol pass 2');
    assert.equal((await onB.get('/me')).status, 401, 'a new password ends the sessions');
    const wrong = await new Client(b.url).post('/signin', { name: 'carol', password: 'carol pass 1' });
    assert.equal(wrong.status, 401, show(wrong));
    const again = new Client(b.url);
    await signIn(again, 'carol', 'carol pass 2');

    users(b, 'remove', 'carol');
    assert.equal((await again.get('/me')).status, 401, 'removing the account ends its sessions');
    const gone = await new Client(a.url).post('/signin', { name: 'carol', password: 'carol pass 2' });
    assert.equal(gone.status, 401, show(gone));
    assert.match(users(b, 'list'), /^alice\n$/);
    assert.throws(() => users(a, 'remove', 'carol'), /no user 'carol'/);
  });
});

describe('a node killed mid-login', () => {
  let redis;
  let nodes = [];
  before(async () => {
    redis = await startRedis();
    // Behind a balancer both nodes have one public URL: what goes in the QR code is then the same on both.
    nodes = await twoNodes(redis, `${NO_LIMITS}\npublic_url = "http://login.test"`);
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await redis?.remove();
  });

  it('started on A, A is SIGKILLed before the approval: the login completes on B', async () => {
    const [a, b] = nodes;
    const { screen, start, qr } = await startScreen(a.url);
    const phone = await phoneFor(a.url, ALICE.name, ALICE.password); // its session made by A
    const svg = await screen.get('/login/qr.svg');
    assert.equal(svg.status, 200, show(svg));

    await a.stop({ signal: 'SIGKILL' });

    // The screen carries on against B: its cookie, its events, its QR code (one key for every node).
    const onB = new Client(b.url);
    onB.jar = screen.jar;
    const same = await onB.get('/login/qr.svg');
    assert.equal(same.status, 200, show(same));
    assert.ok(same.text === svg.text, 'B draws the very QR code A drew');
    const events = await listenAsScreen(onB, 'sse');
    try {
      const phoneOnB = new Client(b.url);
      phoneOnB.jar = phone.jar;
      phoneOnB.csrf = phone.csrf;
      await scanAndApprove(phoneOnB, qr, start.match_number);
      await events.next('scanned');
      await events.next('approved');
    } finally {
      events.close();
    }
    const ex = await onB.post('/login/exchange');
    assert.equal(ex.status, 200, show(ex));
    assert.deepEqual(ex.json, { user: 'alice' });
  });
});

describe('login rate limits across two nodes', () => {
  let redis;
  let nodes = [];
  before(async () => {
    redis = await startRedis();
    nodes = await twoNodes(redis, 'starts_per_minute = 3\nsignins_per_minute = 3\ncode_attempts_per_minute = 3\nprompts_per_minute = 2');
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await redis?.remove();
  });
  const node = (i) => nodes[i % 2];

  it('starts per address: three spread over both nodes, the fourth refused on either', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await postFrom(node(i).url, '127.0.0.2', '/login/start', {});
      assert.equal(r.status, 201, `start ${i + 1} on node ${i % 2}: ${r.status} ${r.text}`);
    }
    for (let i = 0; i < 2; i++) {
      const r = await postFrom(node(i).url, '127.0.0.2', '/login/start', {});
      assert.equal(r.status, 429, `a fourth start on node ${i}: ${r.status} ${r.text}`);
      assert.equal(r.json?.limit, 'starts_per_minute');
    }
  });

  it('sign-ins per address: three spread over both nodes, the fourth refused even with the right password', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await postFrom(node(i).url, '127.0.0.3', '/signin', { name: 'nobody', password: `guess ${i}` });
      assert.equal(r.status, 401, `sign-in ${i + 1}: ${r.status} ${r.text}`);
    }
    const right = await postFrom(node(1).url, '127.0.0.3', '/signin', ALICE);
    assert.equal(right.status, 429, `${right.status} ${right.text}`);
    assert.equal(right.json?.limit, 'signins_per_minute');
  });

  it('code attempts and prompts per account count both nodes together', async () => {
    const phones = [await phoneFor(nodes[0].url, ALICE.name, ALICE.password)];
    phones.push(new Client(nodes[1].url));
    phones[1].jar = phones[0].jar;
    phones[1].csrf = phones[0].csrf;
    const first = await startScreen(nodes[0].url);
    const second = await startScreen(nodes[1].url);
    // Two good codes on two nodes: both prompts of the minute, and two of the three attempts.
    assert.equal((await phones[0].post('/login/scan', { c: first.qr })).status, 200);
    assert.equal((await phones[1].post('/login/scan', { c: second.qr })).status, 200);
    const third = await phones[0].post('/login/scan', { c: madeUpSecret() });
    assert.equal(third.status, 404, show(third));
    const fourth = await phones[1].post('/login/scan', { c: madeUpSecret() });
    assert.equal(fourth.status, 429, show(fourth));
    assert.equal(fourth.json?.limit, 'code_attempts_per_minute');
  });
});

describe('Redis away mid-login', () => {
  let redis;
  let nodes = [];
  before(async () => {
    redis = await startRedis({ durable: true });
    nodes = await twoNodes(redis);
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await redis?.remove();
  });

  it('login calls answer 503 login_unavailable; the screen stays connected and hears the approval after', async () => {
    const [a, b] = nodes;
    const { screen, start, qr } = await startScreen(a.url);
    const onB = new Client(b.url);
    onB.jar = screen.jar;
    const events = await listenAsScreen(onB, 'sse');
    try {
      const phone = await phoneFor(a.url, ALICE.name, ALICE.password);
      const scan = await phone.post('/login/scan', { c: qr });
      assert.equal(scan.status, 200, show(scan));
      await events.next('scanned');

      await redis.stop();
      const decide = () => phone.post('/login/decide', { id: start.id, decision: 'approve', number: start.match_number });
      const refused = await decide();
      assert.equal(refused.status, 503, show(refused));
      assert.equal(refused.json?.error, 'login_unavailable', show(refused));
      assert.match(refused.json?.message ?? '', /unreachable/);
      assert.ok(Number(refused.headers.get('retry-after')) >= 1, 'with Retry-After');
      for (const r of [await new Client(b.url).post('/login/start'), await onB.get('/login/status'), await phone.get('/me')]) {
        assert.equal(r.status, 503, show(r));
        assert.equal(r.json?.error, 'login_unavailable', show(r));
      }
      const device = await fetch(`${b.url}/oauth/device_authorization`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: 'client_id=herald-cli',
      });
      assert.equal(device.status, 503);
      assert.equal((await device.json()).error, 'temporarily_unavailable');

      await redis.start();
      // The phone tries again until the node is back on Redis (a readiness wait: each 503 changed nothing).
      const approved = await eventually(async () => {
        const r = await decide();
        return r.status !== 503 && r;
      }, { timeoutMs: 10000, what: 'the approval to go through once Redis is back' });
      assert.equal(approved.status, 200, show(approved));
      const heard = await events.next('approved', { timeoutMs: 10000 });
      assert.deepEqual(heard.data, { state: 'approved' });
      assert.deepEqual(events.events.items.map((e) => e.event), ['scanned', 'approved'], 'nothing twice, nothing lost');
    } finally {
      events.close();
    }
    const ex = await onB.post('/login/exchange');
    assert.equal(ex.status, 200, show(ex));
  });
});
