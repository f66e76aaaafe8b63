// Random-graph differential test against PyTorch: seeded random programs of
// tapegrad ops (tensor methods, tg.cat/stack, tg.nn.functional) run in float64
// here and in torch, and the outputs and every input's gradient must agree to
// rtol 1e-7. Runs where /usr/bin/python3 can import torch.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { tg, torchAvailable, type Tensor } from './helpers.js';
import { generate, Rng, RUN } from './programs.js';

// The same ops in torch, interpreted from the program's JSON.
const TORCH_INTERPRETER = String.raw`
import json, sys, torch
import torch.nn.functional as F
torch.set_default_dtype(torch.float64)
pos = lambda t: t.abs() + 0.5
def maybe_dim(p):
    return {} if p.get('dim') is None else {'dim': p['dim'], 'keepdim': p['keepDim']}
def extreme(a, p, fn):
    return whole(a, p, fn(a)) if p.get('dim') is None else fn(a, p['dim'], keepdim=p['keepDim']).values
def whole(a, p, r):
    # A reduction over every dim with keepDim keeps them all as size 1, as NumPy does.
    return r.reshape([1] * a.ndim) if p.get('keepDim') else r
R = {
  'input': lambda v, s, p: torch.tensor(p['data'], dtype=torch.float64).reshape(p['shape']).requires_grad_(),
  'constant': lambda v, s, p: torch.tensor(p['data'], dtype=torch.float64).reshape(p['shape']),
  'index': lambda v, s, p: torch.tensor(p['data'], dtype=torch.int64).reshape(p['shape']),
  'neg': lambda v, s, p: -v[0], 'abs': lambda v, s, p: v[0].abs(), 'exp': lambda v, s, p: v[0].exp(),
  'expm1': lambda v, s, p: v[0].expm1(), 'square': lambda v, s, p: v[0].square(),
  'sin': lambda v, s, p: v[0].sin(), 'cos': lambda v, s, p: v[0].cos(), 'tanh': lambda v, s, p: v[0].tanh(),
  'sigmoid': lambda v, s, p: v[0].sigmoid(), 'relu': lambda v, s, p: v[0].relu(),
  'leakyRelu': lambda v, s, p: F.leaky_relu(v[0], 0.1), 'elu': lambda v, s, p: F.elu(v[0], 1.3),
  'gelu': lambda v, s, p: F.gelu(v[0], approximate=p['approximate']), 'silu': lambda v, s, p: F.silu(v[0]),
  'softplus': lambda v, s, p: F.softplus(v[0], 2, 20), 'clamp': lambda v, s, p: v[0].clamp(-0.5, 0.7),
  'log': lambda v, s, p: pos(v[0]).log(), 'log1p': lambda v, s, p: v[0].abs().log1p(),
  'sqrt': lambda v, s, p: pos(v[0]).sqrt(), 'rsqrt': lambda v, s, p: pos(v[0]).rsqrt(),
  'reciprocal': lambda v, s, p: pos(v[0]).reciprocal(), 'powScalar': lambda v, s, p: pos(v[0]).pow(p['e']),
  'add': lambda v, s, p: v[0] + v[1], 'sub': lambda v, s, p: v[0] - v[1], 'mul': lambda v, s, p: v[0] * v[1],
  'div': lambda v, s, p: v[0] / pos(v[1]), 'pow': lambda v, s, p: pos(v[0]).pow(v[1]),
  'maximum': lambda v, s, p: torch.maximum(v[0], v[1]), 'minimum': lambda v, s, p: torch.minimum(v[0], v[1]),
  'where': lambda v, s, p: torch.where(v[1] > 0, v[0], v[1]),
  'rsub': lambda v, s, p: p['c'] - v[0], 'rdiv': lambda v, s, p: p['c'] / pos(v[0]),
  'sum': lambda v, s, p: whole(v[0], p, v[0].sum()) if p.get('dim') is None else v[0].sum(**maybe_dim(p)),
  'mean': lambda v, s, p: whole(v[0], p, v[0].mean()) if p.get('dim') is None else v[0].mean(**maybe_dim(p)),
  'prod': lambda v, s, p: whole(v[0], p, v[0].prod()) if p.get('dim') is None else v[0].prod(p['dim'], keepdim=p['keepDim']),
  'max': lambda v, s, p: extreme(v[0], p, torch.max), 'min': lambda v, s, p: extreme(v[0], p, torch.min),
  'var': lambda v, s, p: torch.var(v[0], p['dim'], correction=p['correction'], keepdim=p['keepDim']),
  'std': lambda v, s, p: torch.std(v[0], p['dim'], correction=p['correction'], keepdim=p['keepDim']),
  'logsumexp': lambda v, s, p: torch.logsumexp(v[0], p['dim'], keepdim=p['keepDim']),
  'norm': lambda v, s, p: whole(v[0], p, torch.linalg.vector_norm(v[0], p['ord'])) if p.get('dim') is None else torch.linalg.vector_norm(v[0], p['ord'], **maybe_dim(p)),
  'transpose': lambda v, s, p: v[0].transpose(p['d0'], p['d1']), 'permute': lambda v, s, p: v[0].permute(p['dims']),
  'reshape': lambda v, s, p: v[0].reshape(p['shape']), 'flatten': lambda v, s, p: v[0].flatten(),
  'unsqueeze': lambda v, s, p: v[0].unsqueeze(p['dim']), 'squeeze': lambda v, s, p: v[0].squeeze(p['dim']),
  'expand': lambda v, s, p: v[0].unsqueeze(0).expand(p['shape']),
  'narrow': lambda v, s, p: v[0].narrow(p['dim'], p['start'], p['length']),
  'slice': lambda v, s, p: v[0].transpose(0, p['dim'])[p['start']::2].transpose(0, p['dim']),
  'mT': lambda v, s, p: v[0].mT,
  'cat': lambda v, s, p: torch.cat([v[0], v[1]], p['dim']), 'stack': lambda v, s, p: torch.stack([v[0], v[1]], p['dim']),
  'split': lambda v, s, p: v[0].split(p['size'], p['dim'])[-1], 'chunk': lambda v, s, p: v[0].chunk(2, p['dim'])[0],
  'indexSelect': lambda v, s, p: v[0].index_select(p['dim'], v[1]), 'gather': lambda v, s, p: v[0].gather(p['dim'], v[1]),
  'scatterAdd': lambda v, s, p: v[0].scatter_add(p['dim'], v[1], v[2]),
  'matmul': lambda v, s, p: v[0].matmul(v[1]), 'outer': lambda v, s, p: torch.outer(v[0], v[1]),
  'dot': lambda v, s, p: torch.dot(v[0], v[1]),
  'softmax': lambda v, s, p: F.softmax(v[0], p['dim']), 'logSoftmax': lambda v, s, p: F.log_softmax(v[0], p['dim']),
  'layerNorm': lambda v, s, p: F.layer_norm(v[0], (p['n'],), v[1], v[2]),
  'linear': lambda v, s, p: F.linear(v[0], v[1], v[2]),
  'mseLoss': lambda v, s, p: F.mse_loss(v[0], v[1], reduction=p['reduction']),
  'l1Loss': lambda v, s, p: F.l1_loss(v[0], v[1], reduction=p['reduction']),
  'huberLoss': lambda v, s, p: F.huber_loss(v[0], v[1], delta=0.5, reduction=p['reduction']),
  'bceWithLogits': lambda v, s, p: F.binary_cross_entropy_with_logits(v[0], v[1], reduction=p['reduction']),
  'bce': lambda v, s, p: F.binary_cross_entropy(v[0].sigmoid(), v[1], reduction=p['reduction']),
  'crossEntropy': lambda v, s, p: F.cross_entropy(v[0], v[1], label_smoothing=p['smoothing'], reduction=p['reduction']),
  'nllLoss': lambda v, s, p: F.nll_loss(F.log_softmax(v[0], 1), v[1], reduction=p['reduction']),
  'embedding': lambda v, s, p: F.embedding(v[1], v[0]),
}
results = []
for prog in json.load(sys.stdin):
    vals, shapes = [], []
    try:
        for st in prog['steps']:
            vals.append(R[st['op']]([vals[i] for i in st['args']], st, st['p']))
            shapes.append(list(vals[-1].shape))
        out = vals[-1]
        (out * torch.tensor(prog['weights']).reshape(out.shape)).sum().backward()
    except Exception as e:
        results.append({'error': str(e), 'shapes': shapes})
        continue
    grads = [vals[i].grad.flatten().tolist() if vals[i].grad is not None else None
             for i, st in enumerate(prog['steps']) if st['op'] == 'input']
    results.append({'out': out.detach().flatten().tolist(), 'shapes': shapes, 'grads': grads})
json.dump(results, sys.stdout)
`;

function close(actual: ArrayLike<number>, expected: readonly number[], where: string): void {
  expect(actual.length, `${where}: length`).toBe(expected.length);
  // rtol 1e-7, plus an absolute floor at the vector's scale for values that are zero in exact arithmetic.
  const atol = 1e-10 * Math.max(1, ...expected.map((e) => (Number.isFinite(e) ? Math.abs(e) : 0)));
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e)) expect(Number.isNaN(a), `${where}[${i}]: ${a} vs NaN`).toBe(true);
    else expect(Math.abs(a - e) <= atol + 1e-7 * Math.abs(e), `${where}[${i}]: ${a} vs ${e}`).toBe(true);
  }
}

describe.runIf(torchAvailable())('random programs agree with PyTorch in float64', () => {
  it('outputs and every input gradient, rtol 1e-7, over 500 seeded programs (DIFFERENTIAL_PROGRAMS=n for more)', () => {
    const cases = Array.from({ length: Number(process.env.DIFFERENTIAL_PROGRAMS ?? 500) }, (_, i) => generate(1000 + i));
    const programs = cases.map((c) => c.program);
    const reference = JSON.parse(
      execFileSync('/usr/bin/python3', ['-c', TORCH_INTERPRETER], {
        input: JSON.stringify(programs),
        encoding: 'utf8',
        maxBuffer: 1 << 28,
        env: { ...process.env, OMP_NUM_THREADS: '1' },
      }),
    ) as { out: number[]; shapes: number[][]; grads: (number[] | null)[]; error?: string }[];
    const opsSeen = new Set<string>();
    cases.forEach(({ program, values }, n) => {
      const describeProgram = program.steps.map((s, i) => `${i}:${s.op}(${s.args})${JSON.stringify(s.p).slice(0, 80)}`).join(' ');
      const where = `program ${1000 + n} [${describeProgram}]`;
      program.steps.forEach((s) => opsSeen.add(s.op));
      // Every step's shape must match, up to the step where torch raised (which must not exist).
      values.slice(0, reference[n]!.shapes.length).forEach((v, i) => expect([...v.shape], `${where}: shape of step ${i}`).toEqual(reference[n]!.shapes[i]));
      expect(reference[n]!.error, `${where}: torch raised`).toBeUndefined();
      const out = values.at(-1)!;
      close(out.data(), reference[n]!.out, `${where}: output`);
      const weights = tg.tensor(program.weights, { shape: [...out.shape], dtype: 'float64' });
      out.mul(weights).sum().backward();
      const inputs = values.filter((_, i) => program.steps[i]!.op === 'input');
      inputs.forEach((x, i) => {
        const expected = reference[n]!.grads[i];
        if (expected === null || expected === undefined) expect(x.grad, `${where}: grad of input ${i}`).toBeNull();
        else close(x.grad ? x.grad.data() : new Float64Array(expected.length), expected, `${where}: grad of input ${i}`);
      });
    });
    // The generator must actually exercise the op set.
    const missing = Object.keys(RUN).filter((op) => !opsSeen.has(op));
    expect(missing).toEqual([]);
  }, 120_000);
});

// The sorting and scanning ops on random tensors full of ties, NaN and zeros
// (signed), where PyTorch's conventions are easy to get wrong: sort (stable)
// must give PyTorch's indices exactly; topk PyTorch's values (it leaves the
// order of ties unspecified, so the indices need only point at them); cumsum,
// cumprod and repeat PyTorch's values and gradients.
const TORCH_STRUCTURAL = String.raw`
import json, sys, torch
def out(t):
    return [None if v != v else v for v in t.detach().flatten().tolist()]
results = []
for c in json.load(sys.stdin):
    # NaN comes as null, -0 as '-0' (JSON has neither).
    x = torch.tensor([float('nan') if v is None else float(v) for v in c['data']], dtype=torch.float64).reshape(c['shape'])
    v, i = torch.sort(x, dim=c['dim'], descending=c['desc'], stable=True)
    tv = torch.topk(x, c['k'], dim=c['dim'], largest=c['desc']).values
    r = {'sortValues': out(v), 'sortIndices': i.flatten().tolist(), 'topValues': out(tv)}
    xs = torch.nan_to_num(x, nan=1.5).requires_grad_()
    for name, fn in (('cumsum', lambda t: t.cumsum(c['dim'])), ('cumprod', lambda t: t.cumprod(c['dim'])), ('repeat', lambda t: t.repeat(*c['reps']))):
        xs.grad = None
        y = fn(xs)
        (y * torch.tensor([i % 7 - 3 for i in range(y.numel())], dtype=torch.float64).reshape(y.shape)).sum().backward()
        r[name] = {'out': out(y), 'shape': list(y.shape), 'grad': out(xs.grad)}
    results.append(r)
json.dump(results, sys.stdout)
`;

describe.runIf(torchAvailable())('sort, topk, cumsum, cumprod and repeat agree with PyTorch', () => {
  it('on 200 random tensors with ties, NaN and signed zeros', () => {
    const rng = new Rng(77);
    const cases = Array.from({ length: 200 }, () => {
      const nd = rng.int(1, 3);
      const shape = Array.from({ length: nd }, () => rng.int(1, 6));
      const n = shape.reduce((a, b) => a * b, 1);
      const data = Array.from({ length: n }, () => {
        const r = rng.next();
        return r < 0.1 ? NaN : r < 0.2 ? 0 : r < 0.25 ? -0 : rng.int(-2, 2) + rng.pick([0, 0.5]);
      });
      const dim = rng.int(-nd, nd - 1);
      const k = rng.int(0, shape[dim < 0 ? dim + nd : dim]!);
      const reps = [...(rng.bool() ? [rng.int(1, 2)] : []), ...shape.map(() => rng.int(0, 2))];
      return { shape, data, dim, desc: rng.bool(), k, reps };
    });
    const reference = JSON.parse(
      execFileSync('/usr/bin/python3', ['-c', TORCH_STRUCTURAL], {
        input: JSON.stringify(cases.map((c) => ({ ...c, data: c.data.map((v) => (Number.isNaN(v) ? null : Object.is(v, -0) ? '-0' : v)) }))),
        encoding: 'utf8',
        env: { ...process.env, OMP_NUM_THREADS: '1' },
      }),
    ) as Record<string, unknown>[];
    const nan = (a: (number | null)[]) => a.map((v) => (v === null ? NaN : v));
    cases.forEach((c, n) => {
      const want = reference[n]! as { sortValues: (number | null)[]; sortIndices: number[]; topValues: (number | null)[] } &
        Record<'cumsum' | 'cumprod' | 'repeat', { out: (number | null)[]; shape: number[]; grad: (number | null)[] }>;
      const where = `case ${n}: ${JSON.stringify(c)}`;
      tg.tidy(() => {
        const x = tg.tensor(c.data, { shape: c.shape, dtype: 'float64' });
        const sorted = x.sort({ dim: c.dim, descending: c.desc });
        expect(Array.from(sorted.indices.data()), `${where}: sort indices`).toEqual(want.sortIndices);
        expect(Array.from(sorted.values.data()), `${where}: sort values`).toEqual(nan(want.sortValues));
        const top = x.topk(c.k, { dim: c.dim, largest: c.desc });
        // Which of tied -0 and 0 comes first is a tie order too.
        const unsigned = (a: ArrayLike<number>) => Array.from(a, (v) => (v === 0 ? 0 : v));
        expect(unsigned(top.values.data()), `${where}: topk values`).toEqual(unsigned(nan(want.topValues)));
        expect(unsigned(x.gather(c.dim, top.indices).data()), `${where}: topk indices`).toEqual(unsigned(nan(want.topValues)));
        const xs = tg.tensor(c.data.map((v) => (Number.isNaN(v) ? 1.5 : v)), { shape: c.shape, dtype: 'float64', requiresGrad: true });
        for (const [name, fn] of [
          ['cumsum', (t: Tensor) => t.cumsum(c.dim)],
          ['cumprod', (t: Tensor) => t.cumprod(c.dim)],
          ['repeat', (t: Tensor) => t.repeat(c.reps)],
        ] as const) {
          xs.zeroGrad();
          const y = fn(xs);
          expect(y.shape, `${where}: ${name} shape`).toEqual(want[name].shape);
          close(y.data(), nan(want[name].out), `${where}: ${name}`);
          const weights = tg.tensor(Array.from({ length: y.size }, (_, i) => (i % 7) - 3), { shape: y.shape, dtype: 'float64' });
          y.mul(weights).sum().backward();
          close(xs.grad!.data(), nan(want[name].grad), `${where}: ${name} gradient`);
        }
      });
    });
  }, 60_000);
});
