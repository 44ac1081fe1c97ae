// `herald pub` and `herald sub` from a shell, against a running herald ($HERALD_URL, $HERALD_KEY): publish
// an argument or standard input, listen on each transport (one envelope a line), resume with --since.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { Collector, heraldBin, poll, startHerald, uniq, waitForSubscribers } from './lib/herald.mjs';

let h;
before(async () => {
  h = await startHerald({ config: 'publish_key = "cli-key"\n' });
});
after(async () => {
  await h?.stop({ signal: 'SIGKILL' });
});

function env(key = 'cli-key') {
  return { ...process.env, HERALD_URL: h.url, HERALD_KEY: key };
}

function pub(args, { input, key } = {}) {
  const r = spawnSync(heraldBin, ['pub', ...args], { env: env(key), input, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `herald sub ...`: its stdout lines, parsed as JSON, as they come. */
function sub(args) {
  const proc = spawn(heraldBin, ['sub', ...args], { env: env() });
  const lines = new Collector(`herald sub ${args.join(' ')}`);
  let partial = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (chunk) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop();
    for (const line of parts) lines.push(JSON.parse(line));
  });
  proc.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise((resolve) => proc.once('exit', (code) => resolve({ code, stderr })));
  return { proc, lines, exited, stop: () => proc.kill('SIGKILL') };
}

describe('herald pub', () => {
  it('publishes its argument or standard input with $HERALD_KEY and prints the id', async () => {
    const ch = uniq('clipub');
    const first = pub([ch, 'from an argument']);
    assert.equal(first.code, 0, first.stderr);
    const { id } = JSON.parse(first.stdout);
    const second = pub([ch, '-', '--json'], { input: '{"from":"stdin"}' });
    assert.equal(second.code, 0, second.stderr);
    const read = await poll(h.url, ch, { since: id });
    assert.deepEqual(read.json.messages.map((m) => m.data), [{ from: 'stdin' }]);
    const all = await poll(h.url, ch, { last: 2 });
    assert.equal(all.json.messages[0].data, 'from an argument');
  });

  it('says why when refused, with exit code 1; 2 when nobody answers', () => {
    const wrong = pub([uniq('clipub'), 'x'], { key: 'not-the-key' });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /^herald: 403: The publish key is not valid/);
    const r = spawnSync(heraldBin, ['pub', 'news', 'x'], {
      env: { ...process.env, HERALD_URL: 'http://127.0.0.1:1' },
      encoding: 'utf8',
    });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^herald: /);
  });
});

describe('herald sub', () => {
  for (const [transport, counted] of [
    ['sse', 'sse'],
    ['longpoll', 'longpoll'],
    ['ws', 'websocket'],
  ]) {
    it(`--transport ${transport} prints each message as an envelope line, and --since resumes`, async () => {
      const ch = uniq(`clisub-${transport}`);
      const before = JSON.parse(pub([ch, 'before']).stdout).id;
      pub([ch, 'missed while away']);
      const s = sub([ch, '--since', before, '--transport', transport]);
      try {
        const [resumed] = await s.lines.waitFor(1);
        assert.equal(resumed.data, 'missed while away');
        assert.equal(resumed.channel, ch);
        await waitForSubscribers(h.url, ch, { [counted]: 1 });
        pub([ch, 'live', '--event', 'note']);
        const [, live] = await s.lines.waitFor(2);
        assert.equal(live.data, 'live');
        assert.equal(live.event, 'note');
      } finally {
        s.stop();
      }
    });
  }

  it('names a refused subscription and exits 1', async () => {
    const s = sub(['_login:nope', '--transport', 'sse']);
    const { code, stderr } = await s.exited;
    assert.equal(code, 1);
    assert.match(stderr, /^herald: 4\d\d: /);
  });
});
