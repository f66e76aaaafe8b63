// The end of every *-cases.cjs script run as a child process (helpers.ts
// runCaseScript, gemm.test.ts): when the script is the main module, load the
// built package, apply TAPEGRAD_TEST_THREADS, run the script's runAll(tg,
// native) and print one JSON line: the ISA path, the script's own fields
// about the run, then runAll's report (its failures cut to 20).
'use strict';
const path = require('node:path');

const root = path.resolve(__dirname, '..');

function caseMain(caller, runAll, runFields = () => ({})) {
  if (require.main !== caller) return;
  const tg = require(path.join(root, 'dist', 'index.js'));
  const { native } = require(path.join(root, 'dist', 'native.js'));
  if (process.env.TAPEGRAD_TEST_THREADS) tg.setNumThreads(Number(process.env.TAPEGRAD_TEST_THREADS));
  const report = { isa: tg.backendInfo().isa, ...runFields(tg), ...runAll(tg, native) };
  if (Array.isArray(report.failures)) report.failures = report.failures.slice(0, 20);
  process.stdout.write(JSON.stringify(report) + '\n');
}

module.exports = { caseMain };
