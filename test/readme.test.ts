import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tg } from './helpers.js';

// The README's usage example must run as printed.
describe('README', () => {
  it('the usage example runs', () => {
    const readme = readFileSync(path.resolve(__dirname, '..', 'README.md'), 'utf8');
    const block = /## Use\s+```ts\n([\s\S]*?)```/.exec(readme);
    expect(block).not.toBe(null);
    const code = block![1]!
      .replace(/^import \{([^}]*)\} from 'tapegrad';$/m, (_, names: string) => `const {${names.replace(/\btype \w+,?/g, '')}} = tg;`)
      .replace(/^import \* as (\w+) from 'tapegrad';$/m, 'const $1 = tg;');
    const lines: unknown[] = [];
    const log = (...args: unknown[]) => lines.push(args.join(' '));
    new Function('tg', 'console', code)(tg, { log });
    expect(lines.length).toBeGreaterThan(0);
  });
});
