'use strict';
// Compiles src/ to CommonJS in dist/, then writes the ES module entry that
// re-exports the same objects (so `import` and `require` share classes).
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'dist');
fs.rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', root], { stdio: 'inherit' });

// The names come from the compiled module's source, not by loading it, so
// this step needs no native build.
const names = new Set();
const cjs = fs.readFileSync(path.join(dist, 'index.js'), 'utf8');
for (const m of cjs.matchAll(/Object\.defineProperty\(exports, "([A-Za-z_$][\w$]*)"/g)) names.add(m[1]);
for (const m of cjs.matchAll(/^exports\.([A-Za-z_$][\w$]*) = /gm)) names.add(m[1]);
names.delete('__esModule');
const list = [...names].sort();
fs.writeFileSync(
  path.join(dist, 'index.mjs'),
  `// ES module entry: re-exports the CommonJS build so both share one set of classes.\n` +
    `import tapegrad from './index.js';\n\n` +
    `export const {\n${list.map((n) => `  ${n},`).join('\n')}\n} = tapegrad;\nexport default tapegrad;\n`,
);
fs.writeFileSync(
  path.join(dist, 'index.d.mts'),
  `export * from './index.js';\nimport * as tapegrad from './index.js';\nexport default tapegrad;\n`,
);
