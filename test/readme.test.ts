import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tg } from './helpers.js';

// Every ```ts block of the README must run as printed (imports from 'tapegrad'
// become the built package; top-level await is allowed).
const readme = readFileSync(path.resolve(__dirname, '..', 'README.md'), 'utf8');
const blocks = readme.split(/^## /m).slice(1).flatMap((sec) => {
  const section = sec.slice(0, sec.indexOf('\n'));
  return [...sec.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => ({ section, code: m[1]! }));
});
const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (...args: string[]) => (
  ...a: unknown[]
) => Promise<void>;

describe('README', () => {
  it('has usage examples', () => {
    expect(blocks.map((b) => b.section)).toEqual(expect.arrayContaining(['Use', 'Train a model']));
  });
  for (const { section, code } of blocks) {
    it(`the example under "${section}" runs`, async () => {
      const js = code
        .replace(/^import \{([^}]*)\} from 'tapegrad';$/m, (_, names: string) => `const {${names.replace(/\btype \w+,?/g, '')}} = tg;`)
        .replace(/^import \* as (\w+) from 'tapegrad';$/m, 'const $1 = tg;');
      const lines: string[] = [];
      const log = (...args: unknown[]) => lines.push(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
      await new AsyncFunction('tg', 'console', js)(tg, { log });
      expect(lines.length).toBeGreaterThan(0);
      // Values the example states in a trailing comment must be what it prints.
      const stated = [...code.matchAll(/console\.log\(.*\);\s*\/\/ (\[.*\]|-?\d[\d.\s-]*)$/gm)].map((m) => m[1]!.trim());
      const squash = (v: string) => v.replace(/\s+/g, '');
      for (const want of stated) expect(lines.map(squash)).toContain(squash(want));
    });
  }
});
