'use strict';
// Run before the tests: compiles the addon if no build of it loads, and
// rebuilds the TypeScript output. cmake-js and tsc only redo what changed.
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const run = (args) => execFileSync(process.execPath, args, { cwd: root, stdio: 'inherit' });

run([require.resolve('cmake-js/bin/cmake-js'), 'compile']);
run([path.join(__dirname, 'build-ts.js')]);
