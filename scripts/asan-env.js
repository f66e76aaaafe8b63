'use strict';
// The environment a process needs to load a sanitizer build of the addon
// (build with -DTAPEGRAD_SANITIZE=ON): one place for npm run test:asan and
// scripts/check-avx512.sh (SANITIZE=1).
//
//   node scripts/asan-env.js <addon.node> <command> [args...]
// runs the command with that environment.
const { execFileSync } = require('node:child_process');

function asanEnv(addon, base = process.env) {
  return {
    ...base,
    TAPEGRAD_NATIVE: addon,
    // Huge requests must fail as RangeErrors, not abort: allocator_may_return_null.
    // The runtime must come first; Node's own allocations are not ours to check for leaks here.
    LD_PRELOAD: execFileSync('g++', ['-print-file-name=libasan.so']).toString().trim(),
    ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1:allocator_may_return_null=1',
    UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
  };
}

module.exports = { asanEnv };

if (require.main === module) {
  const [addon, command, ...args] = process.argv.slice(2);
  if (!addon || !command) {
    console.error('usage: node scripts/asan-env.js <addon.node> <command> [args...]');
    process.exit(2);
  }
  try {
    execFileSync(command, args, { stdio: 'inherit', env: asanEnv(addon) });
  } catch (e) {
    process.exit(typeof e.status === 'number' ? e.status : 1);
  }
}
