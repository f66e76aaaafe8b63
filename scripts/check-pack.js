'use strict';
// npm run check:pack: what a user gets. Packs the package with this
// platform's prebuild, installs the tarball into an empty folder with
// --ignore-scripts (no compiler involved), then loads it from an ES module
// and a CommonJS file and typechecks a consumer .ts file with nodenext.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const sh = (cmd, args, cwd) => {
  try {
    return execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'] }).toString();
  } catch (e) {
    throw new Error(`${path.basename(cmd)} ${args.join(' ')} failed:\n${e.stdout ?? ''}`);
  }
};

sh('npm', ['run', 'prebuilds'], root);
const tgz = sh('npm', ['pack', '--silent'], root).trim().split('\n').pop();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapegrad-consumer-'));
try {
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  sh('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', path.join(root, tgz)], dir);
  fs.writeFileSync(
    path.join(dir, 'esm.mjs'),
    `import { tensor, Tensor } from 'tapegrad';\nimport tg from 'tapegrad';\n` +
      `const t = tensor([[1, 2], [3, 4]]);\n` +
      `if (!(t instanceof Tensor) || tg.Tensor !== Tensor) throw new Error('ESM classes differ');\n` +
      `console.log(JSON.stringify(t.toArray()));\n`,
  );
  fs.writeFileSync(
    path.join(dir, 'cjs.cjs'),
    `const { tensor } = require('tapegrad');\nconsole.log(JSON.stringify(tensor([[1, 2], [3, 4]]).toArray()));\n`,
  );
  for (const file of ['esm.mjs', 'cjs.cjs']) {
    const out = sh(process.execPath, [file], dir).trim();
    if (out !== '[[1,2],[3,4]]') throw new Error(`${file} printed ${out}`);
    console.log(`check:pack: ${file} loads the installed package`);
  }
  fs.writeFileSync(
    path.join(dir, 'consumer.mts'),
    `import { tensor, zeros, isTensor, Tensor, type DType } from 'tapegrad';\n` +
      `const t: Tensor = tensor([1, 2, 3], { dtype: 'float64' });\n` +
      `const d: DType = t.dtype;\nconst s: readonly number[] = zeros([2]).shape;\n` +
      `const both = (x: unknown): x is Tensor => isTensor(x) && Tensor.isTensor(x);\n` +
      `const bad = () => {\n  // @ts-expect-error: shape must be an array\n  zeros('2');\n` +
      `  // @ts-expect-error: the constructor is private, even given a live handle (a second Tensor on it would free its memory)\n  new Tensor(t._handle);\n};\n` +
      `export { d, s, both, bad };\n`,
  );
  fs.writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'ES2022', strict: true, noEmit: true, types: [] },
      files: ['consumer.mts'],
    }),
  );
  sh(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', dir], dir);
  console.log('check:pack: a consumer .mts file typechecks with moduleResolution nodenext');
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(path.join(root, tgz), { force: true });
  // A prebuild left in the dev tree would shadow later local builds.
  fs.rmSync(path.join(root, 'prebuilds'), { recursive: true, force: true });
}
