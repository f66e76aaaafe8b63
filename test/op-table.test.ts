// The README's op table is generated from this registry, and every claim in
// it is checked here: "differentiable" by gradcheck and "double backward" by
// gradgradcheck in float64, each listed dtype by running the op on it (float32
// results must agree with float64 to 1e-4 relative).
// UPDATE_OP_TABLE=1 npx vitest run test/op-table.test.ts rewrites the README table.
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { away, tg, type Tensor } from './helpers.js';

const F = tg.nn.functional;
type DT = 'float32' | 'float64' | 'int32';

const pos = (shape: number[], seed: number) => away(shape, seed, true);
const ints = (values: number[], shape?: number[]) => tg.tensor(values, { dtype: 'int32', ...(shape ? { shape } : {}) });
const probs = (shape: number[], seed: number) => tg.noGrad(() => away(shape, seed).sigmoid()).setRequiresGrad(true);

interface Op {
  name: string;
  dtypes: DT[];
  grad: boolean;
  gradgrad: boolean;
  /** float64 inputs; those that require grad are differentiated. */
  inputs: () => Tensor[];
  fn: (...xs: Tensor[]) => Tensor | Tensor[];
}

const FLOAT: DT[] = ['float32', 'float64'];
const ALL: DT[] = ['float32', 'float64', 'int32'];
const d = (name: string, dtypes: DT[], inputs: () => Tensor[], fn: Op['fn'], gradgrad = true): Op => ({
  name, dtypes, grad: true, gradgrad, inputs, fn,
});
const nd = (name: string, dtypes: DT[], inputs: () => Tensor[], fn: Op['fn']): Op => ({
  name, dtypes, grad: false, gradgrad: false, inputs, fn,
});
const two = () => [away([2, 3], 1), away([3], 2)];
const one = () => [away([2, 3], 3)];
const onePos = () => [pos([2, 3], 4)];
// Away from the jumps of the rounding ops (integers, and half-integers for round).
const between = () => [tg.tensor(new Float64Array([0.3, 1.7, -2.2, -0.6, 3.45, -1.25]), { shape: [2, 3], dtype: 'float64', requiresGrad: true })];
// Dividend and divisor whose quotients stay away from integers (the jumps of remainder and fmod).
const quotients = () => [
  tg.tensor(new Float64Array([5.3, -5.3, 2.2, -0.7, 7.9, -3.1]), { shape: [2, 3], dtype: 'float64', requiresGrad: true }),
  tg.tensor(new Float64Array([2.1, -1.7, 0.9]), { dtype: 'float64', requiresGrad: true }),
];
const unary = (name: string, fn: (x: Tensor) => Tensor, inputs = one, dtypes = FLOAT, gradgrad = true) =>
  d(name, dtypes, inputs, fn, gradgrad);

export const OPS: Op[] = [
  // elementwise binary (tensor or number on either side; broadcasting)
  d('add', ALL, two, (a, b) => a!.add(b!)),
  d('sub', ALL, two, (a, b) => a!.sub(b!)),
  d('mul', ALL, two, (a, b) => a!.mul(b!)),
  d('div', ALL, two, (a, b) => a!.div(b!)),
  d('pow', FLOAT, () => [pos([2, 3], 5), away([3], 6)], (a, b) => a!.pow(b!)),
  d('maximum', ALL, two, (a, b) => a!.maximum(b!)),
  d('minimum', ALL, two, (a, b) => a!.minimum(b!)),
  d('remainder', ALL, quotients, (a, b) => a!.remainder(b!)),
  d('fmod', ALL, quotients, (a, b) => a!.fmod(b!)),
  d('where', ALL, () => [ints([1, 0, 1]), away([2, 3], 7), away([3], 8)], (c, a, b) => tg.where(c!, a!, b!)),
  d('maskedFill', ALL, () => [away([2, 3], 7), away([], 8)], (x, v) => x!.maskedFill(ints([1, 0, 1]), v!)),
  ...(['eq', 'ne', 'lt', 'le', 'gt', 'ge'] as const).map((n) => nd(n, ALL, two, (a, b) => a![n](b!))),
  // unary
  unary('neg', (x) => x.neg(), one, ALL),
  unary('abs', (x) => x.abs(), one, ALL),
  unary('sign', (x) => x.sign(), one, ALL),
  unary('floor', (x) => x.floor(), between, ALL),
  unary('ceil', (x) => x.ceil(), between, ALL),
  unary('round', (x) => x.round(), between, ALL),
  unary('trunc', (x) => x.trunc(), between, ALL),
  unary('square', (x) => x.square(), one, ALL),
  unary('exp', (x) => x.exp()),
  unary('log', (x) => x.log(), onePos),
  unary('log1p', (x) => x.log1p(), onePos),
  unary('expm1', (x) => x.expm1()),
  unary('sqrt', (x) => x.sqrt(), onePos),
  unary('rsqrt', (x) => x.rsqrt(), onePos),
  unary('reciprocal', (x) => x.reciprocal(), one),
  unary('sin', (x) => x.sin()),
  unary('cos', (x) => x.cos()),
  unary('tanh', (x) => x.tanh()),
  unary('sigmoid', (x) => x.sigmoid()),
  unary('relu', (x) => x.relu(), one, ALL),
  unary('leakyRelu', (x) => x.leakyRelu(0.1)),
  unary('elu', (x) => x.elu()),
  unary('gelu', (x) => x.gelu()),
  unary("gelu({ approximate: 'tanh' })", (x) => x.gelu({ approximate: 'tanh' })),
  unary('silu', (x) => x.silu()),
  unary('softplus', (x) => x.softplus()),
  unary('clamp', (x) => x.clamp(-0.5, 0.5), one, ALL),
  // reductions
  d('sum', ALL, one, (x) => x!.sum(1)),
  d('mean', FLOAT, one, (x) => x!.mean(-1, true)),
  d('prod', ALL, one, (x) => x!.prod(0)),
  d('max', ALL, one, (x) => x!.max(1)),
  d('min', ALL, one, (x) => x!.min(0)),
  nd('argmax', ALL, one, (x) => x!.argmax(1)),
  nd('argmin', ALL, one, (x) => x!.argmin(1)),
  d('var', FLOAT, one, (x) => x!.var(1)),
  d('std', FLOAT, one, (x) => x!.std(1)),
  d('logsumexp', FLOAT, one, (x) => x!.logsumexp(1)),
  d('norm', FLOAT, one, (x) => x!.norm(2, 1)),
  d('cumsum', ALL, one, (x) => x!.cumsum(1)),
  d('cumprod', ALL, one, (x) => x!.cumprod(0)),
  d('sort', ALL, one, (x) => x!.sort({ dim: 1, descending: true }).values),
  nd('argsort', ALL, one, (x) => x!.argsort({ dim: 0 })),
  d('topk', ALL, one, (x) => x!.topk(2).values),
  // shape and indexing
  d('reshape', ALL, one, (x) => x!.reshape(3, -1)),
  d('view', ALL, one, (x) => x!.view(6)),
  d('flatten', ALL, one, (x) => x!.flatten()),
  d('squeeze', ALL, one, (x) => x!.unsqueeze(0).squeeze(0)),
  d('unsqueeze', ALL, one, (x) => x!.unsqueeze(-1)),
  d('transpose', ALL, one, (x) => x!.transpose(0, 1)),
  d('permute', ALL, one, (x) => x!.permute(1, 0)),
  d('T / mT', ALL, one, (x) => x!.T.mul(x!.mT)),
  d('expand', ALL, () => [away([1, 3], 9)], (x) => x!.expand(2, 3)),
  d('broadcastTo', ALL, () => [away([3], 9)], (x) => x!.broadcastTo(2, 3)),
  d('slice', ALL, one, (x) => x!.slice(1, 0, 3, 2)),
  d('narrow', ALL, one, (x) => x!.narrow(1, 1, 2)),
  d('split', ALL, one, (x) => x!.split(1, 1)),
  d('chunk', ALL, one, (x) => x!.chunk(2, 1)),
  d('contiguous', ALL, one, (x) => x!.T.contiguous()),
  d('clone', ALL, one, (x) => x!.clone()),
  d('repeat', ALL, one, (x) => x!.repeat(2, 1, 2)),
  d('indexSelect', ALL, one, (x) => x!.indexSelect(1, ints([2, 0, 2]))),
  d('gather', ALL, one, (x) => x!.gather(1, ints([0, 2, 1, 1], [2, 2]))),
  d('scatterAdd', ALL, () => [away([2, 3], 10), away([2, 2], 11)], (x, s) => x!.scatterAdd(1, ints([0, 2, 2, 2], [2, 2]), s!)),
  d('cat', ALL, two, (a, b) => tg.cat([a!, b!.unsqueeze(0)], 0)),
  d('stack', ALL, () => [away([3], 12), away([3], 13)], (a, b) => tg.stack([a!, b!], 1)),
  d('tril', ALL, () => [away([2, 3, 4], 41)], (x) => x!.tril()),
  d('triu', ALL, () => [away([2, 3, 4], 42)], (x) => x!.triu(1)),
  // linear algebra
  d('matmul', FLOAT, () => [away([2, 2, 3], 14), away([3, 2], 15)], (a, b) => a!.matmul(b!)),
  d('dot', FLOAT, () => [away([3], 16), away([3], 17)], (a, b) => a!.dot(b!)),
  d('outer', FLOAT, () => [away([3], 16), away([2], 17)], (a, b) => a!.outer(b!)),
  d('linear', FLOAT, () => [away([2, 3], 18), away([4, 3], 19), away([4], 20)], (x, w, b) => F.linear(x!, w!, b!)),
  // nn.functional
  d('softmax', FLOAT, one, (x) => F.softmax(x!, 1)),
  d('logSoftmax', FLOAT, one, (x) => F.logSoftmax(x!, 0)),
  d('crossEntropy', FLOAT, one, (x) => F.crossEntropy(x!, ints([2, 0]), { labelSmoothing: 0.1 })),
  d('crossEntropy (probabilities)', FLOAT, () => [away([2, 3], 21), probs([2, 3], 22)], (x, p) => F.crossEntropy(x!, p!)),
  d('nllLoss', FLOAT, one, (x) => F.nllLoss(x!, ints([1, 2]))),
  d('mseLoss', FLOAT, two, (a, b) => F.mseLoss(a!, b!.expand(2, 3))),
  d('l1Loss', FLOAT, two, (a, b) => F.l1Loss(a!, b!.expand(2, 3))),
  d('huberLoss', FLOAT, two, (a, b) => F.huberLoss(a!, b!.expand(2, 3), { delta: 0.8 })),
  d('binaryCrossEntropy', FLOAT, () => [probs([2, 3], 23), probs([2, 3], 24)], (p, t) => F.binaryCrossEntropy(p!, t!)),
  d('binaryCrossEntropyWithLogits', FLOAT, () => [away([2, 3], 25), probs([2, 3], 26)],
    (x, t) => F.binaryCrossEntropyWithLogits(x!, t!)),
  d('layerNorm', FLOAT, () => [away([2, 3], 27), away([3], 28), away([3], 29)], (x, w, b) => F.layerNorm(x!, [3], w!, b!)),
  d('dropout', FLOAT, one, (x) => {
    tg.manualSeed(3);
    return F.dropout(x!, 0.4);
  }),
  d('embedding', FLOAT, () => [away([4, 3], 30)], (w) => F.embedding(ints([3, 0, 3]), w!)),
  d('unfold', FLOAT, () => [away([1, 2, 4, 4], 43)], (x) => F.unfold(x!, [2, 3], { padding: 1, stride: [2, 1] })),
  d('fold', FLOAT, () => [away([1, 12, 9], 44)], (c) => F.fold(c!, [4, 5], [2, 3], { padding: 1, stride: 2 })),
  d('conv2d', FLOAT, () => [away([2, 4, 4, 3], 45), away([4, 2, 2, 2], 46), away([4], 47)],
    (x, w, b) => F.conv2d(x!, w!, b!, { groups: 2, padding: 1 })),
  nd('oneHot', ['int32'], () => [ints([2, 0, 1])], (i) => F.oneHot(i!, 4)),
  d('maxPool2d', FLOAT, () => [away([1, 2, 4, 5], 40)], (x) => F.maxPool2d(x!, 2, { stride: 1, padding: 1 })),
  d('avgPool2d', FLOAT, () => [away([1, 2, 4, 5], 41)],
    (x) => F.avgPool2d(x!, 3, { stride: 2, padding: 1, ceilMode: true, countIncludePad: false })),
  d('adaptiveAvgPool2d', FLOAT, () => [away([1, 2, 3, 5], 42)], (x) => F.adaptiveAvgPool2d(x!, [2, 3])),
  d('pad', ALL, () => [away([2, 3], 43)], (x) => F.pad(x!, [2, -1, 1, 0], { value: 2 })),
  d('scaledDotProductAttention', FLOAT, () => [away([2, 3, 2], 31), away([2, 4, 2], 32), away([2, 4, 3], 33), away([3, 4], 34)],
    (q, k, v, m) => F.scaledDotProductAttention(q!, k!, v!, { attnMask: m! })),
];

const CODE = (dt: DT[]) => dt.map((t) => ({ float32: 'f32', float64: 'f64', int32: 'i32' })[t]).join(', ');
function renderTable(): string {
  const rows = OPS.map((o) => `| \`${o.name}\` | ${CODE(o.dtypes)} | ${o.grad ? 'yes' : 'no'} | ${o.gradgrad ? 'yes' : o.grad ? 'no' : '—'} |`);
  return ['| op | dtypes | differentiable | double backward |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

const asList = (r: Tensor | Tensor[]) => (Array.isArray(r) ? r : [r]);
const castInputs = (xs: Tensor[], dtype: DT) =>
  xs.map((x) => (x.dtype === 'int32' || dtype === 'float64' ? x : x.detach().to(dtype)));

describe('op table', () => {
  it('the README shows the table generated from the checked registry', () => {
    const path = new URL('../README.md', import.meta.url);
    const markers = /<!-- op-table -->\n([\s\S]*?)<!-- \/op-table -->/;
    let readme = readFileSync(path, 'utf8');
    if (process.env.UPDATE_OP_TABLE) {
      readme = readme.replace(markers, `<!-- op-table -->\n${renderTable()}\n<!-- /op-table -->`);
      writeFileSync(path, readme);
    }
    const m = markers.exec(readme);
    expect(m, 'README lacks the <!-- op-table --> markers').not.toBeNull();
    expect(m![1], 'README op table is stale: run UPDATE_OP_TABLE=1 npx vitest run test/op-table.test.ts').toBe(`${renderTable()}\n`);
  });

  for (const op of OPS) {
    describe(op.name, () => {
      if (op.grad) {
        it('passes gradcheck in float64', () => {
          expect(tg.tidy(() => tg.gradcheck(op.fn, op.inputs()))).toBe(true);
        });
      }
      if (op.gradgrad) {
        it('passes gradgradcheck in float64', () => {
          expect(tg.tidy(() => tg.gradgradcheck(op.fn, op.inputs()))).toBe(true);
        });
      }
      if (op.grad && !op.gradgrad) {
        it('refuses or zeroes double backward, never a wrong answer', () => {
          expect(() => tg.tidy(() => tg.gradgradcheck(op.fn, op.inputs()))).toThrow();
        });
      }
      it(`runs on ${CODE(op.dtypes)}${op.dtypes.includes('float32') ? ' (float32 within 1e-4 of float64)' : ''}`, () => {
        tg.tidy(() => {
          const ref = op.dtypes.includes('float64') ? asList(op.fn(...op.inputs())).map((t) => Array.from(t.data())) : null;
          for (const dt of op.dtypes) {
            if (dt === 'int32') {
              const xs = op.inputs().map((x) => (x.dtype === 'int32' ? x : x.detach().mul(10).to('int32')));
              for (const out of asList(op.fn(...xs))) expect(out.shape).toBeInstanceOf(Array);
              continue;
            }
            const outs = asList(op.fn(...castInputs(op.inputs(), dt)));
            outs.forEach((out, k) => {
              const got = Array.from(out.data());
              got.forEach((v, i) => {
                const r = ref![k]![i]!;
                expect(Math.abs(v - r), `${op.name} ${dt} element ${i}: ${v} vs ${r}`).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(r)));
              });
            });
          }
        });
      });
    });
  }
});
