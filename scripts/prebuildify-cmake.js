#!/usr/bin/env node
'use strict';
// prebuildify calls `<node-gyp> rebuild --target=<v> --arch=<a> ...`; this
// turns that into a cmake-js build (cmake-js would read --target as a CMake
// target, so it is dropped: the addon is Node-API and version independent).
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const args = ['rebuild'];
for (const arg of process.argv.slice(2)) {
  const m = /^--arch=(.+)$/.exec(arg);
  if (m) args.push('--arch', m[1]);
}
execFileSync(process.execPath, [require.resolve('cmake-js/bin/cmake-js'), ...args], {
  cwd: path.resolve(__dirname, '..'),
  stdio: 'inherit',
});
