// The demo pages use this package: web/herald.js is src/herald.js, byte for byte (npm run sync-web).
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

it('web/herald.js is the package module (run npm run sync-web in clients/js after a change)', () => {
  const source = readFileSync(path.join(pkgDir, 'src/herald.js'), 'utf8');
  const served = readFileSync(path.resolve(pkgDir, '../../web/herald.js'), 'utf8');
  assert.ok(served === source, 'web/herald.js differs from clients/js/src/herald.js');
});
