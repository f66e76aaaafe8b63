'use strict';
// npm run test:asan: builds the addon with AddressSanitizer and
// UndefinedBehaviorSanitizer into build-asan/ and runs the whole suite on it.
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const { asanEnv } = require('./asan-env.js');

const root = path.resolve(__dirname, '..');
const run = (cmd, args, env) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit', env: env ?? process.env });

run(process.execPath, [require.resolve('cmake-js/bin/cmake-js'), 'compile', '--CDTAPEGRAD_SANITIZE=ON', '--out', 'build-asan']);
run(process.execPath, [path.join(__dirname, 'build-ts.js')]);

const env = asanEnv(path.join(root, 'build-asan', 'Release', 'tapegrad.node'));
run(process.execPath, [path.join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...process.argv.slice(2)], env);
