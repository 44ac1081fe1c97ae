// The package as it ships: `npm pack`, installed into a scratch project, imported there by name, and the
// typed example compiled against its declarations with `tsc --noEmit`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tsc = path.join(pkgDir, 'node_modules/typescript/bin/tsc');
let scratch;
let tarball;

before(() => {
  scratch = mkdtempSync(path.join(tmpdir(), 'herald-client-pack-'));
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', scratch], { cwd: pkgDir, encoding: 'utf8' });
  const [info] = JSON.parse(out);
  tarball = { path: path.join(scratch, info.filename), files: info.files.map((f) => f.path).sort() };
  writeFileSync(path.join(scratch, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
  // No dependencies: the tarball alone installs, with no registry.
  execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error', tarball.path], { cwd: scratch });
});
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('the packed package', () => {
  it('holds the module, its types and the README, and nothing else', () => {
    assert.deepEqual(tarball.files, ['README.md', 'package.json', 'src/herald.d.ts', 'src/herald.js']);
    const installed = JSON.parse(readFileSync(path.join(scratch, 'node_modules/herald-client/package.json'), 'utf8'));
    assert.equal(installed.dependencies, undefined, 'no runtime dependencies');
  });

  it('imports by name in Node', () => {
    const script = `
      import herald, { connect, subscribe, backoffDelay, tokenExpiry } from 'herald-client';
      const client = connect('http://127.0.0.1:9/', { fetch: async () => { throw new Error('offline'); } });
      console.log(JSON.stringify({
        connect: typeof connect, subscribe: typeof subscribe, fallback: herald.connect === connect,
        backoff: typeof backoffDelay, expiry: typeof tokenExpiry, state: client.state,
      }));
      client.close();`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: scratch, encoding: 'utf8' });
    assert.deepEqual(JSON.parse(out), {
      connect: 'function',
      subscribe: 'function',
      fallback: true,
      backoff: 'function',
      expiry: 'function',
      state: 'idle',
    });
  });

  it('type-checks the typed example against the installed declarations', () => {
    assert.ok(existsSync(tsc), 'typescript is installed (scripts/install-deps: npm ci in clients/js)');
    for (const f of ['typed.ts', 'tsconfig.json']) copyFileSync(path.join(pkgDir, 'examples', f), path.join(scratch, f));
    try {
      execFileSync(process.execPath, [tsc, '-p', scratch], { cwd: scratch, encoding: 'utf8' });
    } catch (err) {
      assert.fail(`tsc --noEmit failed:\n${err.stdout}${err.stderr}`);
    }
  });
});
