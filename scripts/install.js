'use strict';
// npm install hook: use a matching prebuild (or an existing local build) when
// one loads, otherwise compile the addon with cmake-js.
// npm_config_build_from_source=true forces a compile.
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const fromSource = /^(1|true)$/i.test(process.env.npm_config_build_from_source || '');

function loads() {
  try {
    require(require('node-gyp-build').path(root));
    return true;
  } catch {
    return false;
  }
}

if (fromSource || !loads()) {
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  execFileSync(process.execPath, [cmakeJs, 'compile'], { cwd: root, stdio: 'inherit' });
}
