'use strict';
// npm run test:asan: builds the addon with AddressSanitizer and
// UndefinedBehaviorSanitizer into build-asan/ and runs the whole suite on it.
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const run = (cmd, args, env) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit', env: env ?? process.env });

run(process.execPath, [require.resolve('cmake-js/bin/cmake-js'), 'compile', '--CDTAPEGRAD_SANITIZE=ON', '--out', 'build-asan']);
run(process.execPath, [path.join(__dirname, 'build-ts.js')]);

const libasan = execFileSync('g++', ['-print-file-name=libasan.so']).toString().trim();
const env = {
  ...process.env,
  TAPEGRAD_NATIVE: path.join(root, 'build-asan', 'Release', 'tapegrad.node'),
  // Huge requests must fail as RangeErrors, not abort: allocator_may_return_null.
  // The runtime must come first; Node's own allocations are not ours to check for leaks here.
  LD_PRELOAD: libasan,
  ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1:allocator_may_return_null=1',
  UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
};
run(process.execPath, [path.join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...process.argv.slice(2)], env);
