// The demo pages' client (web/herald.js) is this package's module, copied: run after changing
// src/herald.js (`npm run sync-web`); test/web-copy.test.mjs fails while the two differ.
import { copyFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const to = path.resolve(pkgDir, '../../web/herald.js');
copyFileSync(path.join(pkgDir, 'src/herald.js'), to);
console.log(`copied src/herald.js to ${path.relative(process.cwd(), to)}`);
