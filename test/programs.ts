// The seeded random programs of tapegrad ops shared by the differential test
// against PyTorch (differential.test.ts) and the trace replay test
// (trace.test.ts): a small op table (RUN) and a generator that grows a chain
// of steps from an input, running each step in tapegrad as it goes.
import { tg, type Tensor } from './helpers.js';

const F = tg.nn.functional;

/** One instruction: an op applied to earlier values (by index) with parameters. */
interface Step {
  op: string;
  args: number[];
  p: Record<string, unknown>;
}
export interface Program {
  steps: Step[];
  weights: number[];
}

// The random source: a small LCG so programs are the same on every platform.
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (Math.imul(this.s, 1664525) + 1013904223) >>> 0;
    return this.s / 2 ** 32;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  bool(): boolean {
    return this.next() < 0.5;
  }
}

const positive = (t: Tensor): Tensor => t.abs().add(0.5);

// How each op runs in tapegrad. `v` holds the program's values so far.
export const RUN: Record<string, (v: Tensor[], s: Step) => Tensor> = {
  input: (_v, s) => tg.tensor(s.p.data as number[], { shape: s.p.shape as number[], dtype: 'float64', requiresGrad: true }),
  constant: (_v, s) => tg.tensor(s.p.data as number[], { shape: s.p.shape as number[], dtype: 'float64' }),
  index: (_v, s) => tg.tensor(s.p.data as number[], { shape: s.p.shape as number[], dtype: 'int32' }),
  neg: (v, s) => v[s.args[0]!]!.neg(),
  abs: (v, s) => v[s.args[0]!]!.abs(),
  exp: (v, s) => v[s.args[0]!]!.exp(),
  expm1: (v, s) => v[s.args[0]!]!.expm1(),
  square: (v, s) => v[s.args[0]!]!.square(),
  sin: (v, s) => v[s.args[0]!]!.sin(),
  cos: (v, s) => v[s.args[0]!]!.cos(),
  tanh: (v, s) => v[s.args[0]!]!.tanh(),
  sigmoid: (v, s) => v[s.args[0]!]!.sigmoid(),
  relu: (v, s) => v[s.args[0]!]!.relu(),
  leakyRelu: (v, s) => v[s.args[0]!]!.leakyRelu(0.1),
  elu: (v, s) => v[s.args[0]!]!.elu(1.3),
  gelu: (v, s) => v[s.args[0]!]!.gelu({ approximate: s.p.approximate as 'none' | 'tanh' }),
  silu: (v, s) => v[s.args[0]!]!.silu(),
  softplus: (v, s) => v[s.args[0]!]!.softplus(2, 20),
  clamp: (v, s) => v[s.args[0]!]!.clamp(-0.5, 0.7),
  log: (v, s) => positive(v[s.args[0]!]!).log(),
  log1p: (v, s) => v[s.args[0]!]!.abs().log1p(),
  sqrt: (v, s) => positive(v[s.args[0]!]!).sqrt(),
  rsqrt: (v, s) => positive(v[s.args[0]!]!).rsqrt(),
  reciprocal: (v, s) => positive(v[s.args[0]!]!).reciprocal(),
  powScalar: (v, s) => positive(v[s.args[0]!]!).pow(s.p.e as number),
  add: (v, s) => v[s.args[0]!]!.add(v[s.args[1]!]!),
  sub: (v, s) => v[s.args[0]!]!.sub(v[s.args[1]!]!),
  mul: (v, s) => v[s.args[0]!]!.mul(v[s.args[1]!]!),
  div: (v, s) => v[s.args[0]!]!.div(positive(v[s.args[1]!]!)),
  pow: (v, s) => positive(v[s.args[0]!]!).pow(v[s.args[1]!]!),
  maximum: (v, s) => v[s.args[0]!]!.maximum(v[s.args[1]!]!),
  minimum: (v, s) => v[s.args[0]!]!.minimum(v[s.args[1]!]!),
  where: (v, s) => tg.where(v[s.args[1]!]!.gt(0), v[s.args[0]!]!, v[s.args[1]!]!),
  rsub: (v, s) => tg.sub(s.p.c as number, v[s.args[0]!]!),
  rdiv: (v, s) => tg.div(s.p.c as number, positive(v[s.args[0]!]!)),
  sum: (v, s) => v[s.args[0]!]!.sum(s.p.dim as number | number[] | undefined, s.p.keepDim as boolean),
  mean: (v, s) => v[s.args[0]!]!.mean(s.p.dim as number | number[] | undefined, s.p.keepDim as boolean),
  prod: (v, s) => v[s.args[0]!]!.prod(s.p.dim as number | undefined, s.p.keepDim as boolean),
  max: (v, s) => v[s.args[0]!]!.max(s.p.dim as number | undefined, s.p.keepDim as boolean),
  min: (v, s) => v[s.args[0]!]!.min(s.p.dim as number | undefined, s.p.keepDim as boolean),
  var: (v, s) => v[s.args[0]!]!.var(s.p.dim as number, { correction: s.p.correction as number, keepDim: s.p.keepDim as boolean }),
  std: (v, s) => v[s.args[0]!]!.std(s.p.dim as number, { correction: s.p.correction as number, keepDim: s.p.keepDim as boolean }),
  logsumexp: (v, s) => v[s.args[0]!]!.logsumexp(s.p.dim as number, s.p.keepDim as boolean),
  norm: (v, s) => v[s.args[0]!]!.norm(s.p.ord as number, s.p.dim as number | undefined, s.p.keepDim as boolean),
  transpose: (v, s) => v[s.args[0]!]!.transpose(s.p.d0 as number, s.p.d1 as number),
  permute: (v, s) => v[s.args[0]!]!.permute(s.p.dims as number[]),
  reshape: (v, s) => v[s.args[0]!]!.reshape(s.p.shape as number[]),
  flatten: (v, s) => v[s.args[0]!]!.flatten(),
  unsqueeze: (v, s) => v[s.args[0]!]!.unsqueeze(s.p.dim as number),
  squeeze: (v, s) => v[s.args[0]!]!.squeeze(s.p.dim as number),
  expand: (v, s) => v[s.args[0]!]!.unsqueeze(0).expand(s.p.shape as number[]),
  narrow: (v, s) => v[s.args[0]!]!.narrow(s.p.dim as number, s.p.start as number, s.p.length as number),
  slice: (v, s) => v[s.args[0]!]!.slice(s.p.dim as number, s.p.start as number, null, 2),
  mT: (v, s) => v[s.args[0]!]!.mT,
  cat: (v, s) => tg.cat([v[s.args[0]!]!, v[s.args[1]!]!], s.p.dim as number),
  stack: (v, s) => tg.stack([v[s.args[0]!]!, v[s.args[1]!]!], s.p.dim as number),
  split: (v, s) => v[s.args[0]!]!.split(s.p.size as number, s.p.dim as number).at(-1)!,
  chunk: (v, s) => v[s.args[0]!]!.chunk(2, s.p.dim as number)[0]!,
  indexSelect: (v, s) => v[s.args[0]!]!.indexSelect(s.p.dim as number, v[s.args[1]!]!),
  gather: (v, s) => v[s.args[0]!]!.gather(s.p.dim as number, v[s.args[1]!]!),
  scatterAdd: (v, s) => v[s.args[0]!]!.scatterAdd(s.p.dim as number, v[s.args[1]!]!, v[s.args[2]!]!),
  matmul: (v, s) => v[s.args[0]!]!.matmul(v[s.args[1]!]!),
  outer: (v, s) => v[s.args[0]!]!.outer(v[s.args[1]!]!),
  dot: (v, s) => v[s.args[0]!]!.dot(v[s.args[1]!]!),
  softmax: (v, s) => F.softmax(v[s.args[0]!]!, s.p.dim as number),
  logSoftmax: (v, s) => F.logSoftmax(v[s.args[0]!]!, s.p.dim as number),
  layerNorm: (v, s) => F.layerNorm(v[s.args[0]!]!, s.p.n as number, v[s.args[1]!]!, v[s.args[2]!]!),
  linear: (v, s) => F.linear(v[s.args[0]!]!, v[s.args[1]!]!, v[s.args[2]!]!),
  mseLoss: (v, s) => F.mseLoss(v[s.args[0]!]!, v[s.args[1]!]!, { reduction: s.p.reduction as 'mean' }),
  l1Loss: (v, s) => F.l1Loss(v[s.args[0]!]!, v[s.args[1]!]!, { reduction: s.p.reduction as 'mean' }),
  huberLoss: (v, s) => F.huberLoss(v[s.args[0]!]!, v[s.args[1]!]!, { delta: 0.5, reduction: s.p.reduction as 'mean' }),
  bceWithLogits: (v, s) => F.binaryCrossEntropyWithLogits(v[s.args[0]!]!, v[s.args[1]!]!, { reduction: s.p.reduction as 'mean' }),
  bce: (v, s) => F.binaryCrossEntropy(v[s.args[0]!]!.sigmoid(), v[s.args[1]!]!, { reduction: s.p.reduction as 'mean' }),
  crossEntropy: (v, s) =>
    F.crossEntropy(v[s.args[0]!]!, v[s.args[1]!]!, { labelSmoothing: s.p.smoothing as number, reduction: s.p.reduction as 'mean' }),
  nllLoss: (v, s) => F.nllLoss(F.logSoftmax(v[s.args[0]!]!, 1), v[s.args[1]!]!, { reduction: s.p.reduction as 'mean' }),
  embedding: (v, s) => F.embedding(v[s.args[1]!]!, v[s.args[0]!]!),
};

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
export const randomData = (rng: Rng, n: number): number[] => Array.from({ length: n }, () => Math.round((rng.next() * 4 - 2) * 1e6) / 1e6);

/** Builds one random program by growing a chain from an input, running each step in tapegrad as it goes. */
export function generate(seed: number): { program: Program; values: Tensor[] } {
  const rng = new Rng(seed);
  const steps: Step[] = [];
  const values: Tensor[] = [];
  const push = (step: Step): number => {
    values.push(RUN[step.op]!(values, step));
    steps.push(step);
    return values.length - 1;
  };
  const input = (shape: number[]): number => push({ op: 'input', args: [], p: { shape, data: randomData(rng, size(shape)) } });
  const constant = (shape: number[], data: number[]): number => push({ op: 'constant', args: [], p: { shape, data } });
  const index = (shape: number[], bound: number): number =>
    push({ op: 'index', args: [], p: { shape, data: Array.from({ length: size(shape) }, () => rng.int(0, bound - 1)) } });
  // A shape that broadcasts against `shape`: a suffix of it with some sizes set to 1.
  const broadcastable = (shape: readonly number[]): number[] =>
    shape.slice(rng.int(0, shape.length)).map((d) => (rng.next() < 0.3 ? 1 : d));
  const dimOf = (nd: number): number => rng.int(-nd, nd - 1);
  const reduction = (): string => rng.pick(['mean', 'sum', 'none']);
  const hasTies = (t: Tensor): boolean => new Set(t.data()).size < t.size;

  const rank = rng.int(1, 3);
  let cur = input(Array.from({ length: rank }, () => rng.int(1, 4)));
  const length = rng.int(2, 6);
  for (let k = 0; k < length; k++) {
    const a = values[cur]!;
    const shape = [...a.shape];
    const nd = shape.length;
    const mark = values.length;
    const kinds = ['unary', 'binary', 'scalar', 'shape', 'combine'];
    if (nd >= 1 && a.size > 0) kinds.push('reduce', 'nn');
    const kind = rng.pick(kinds);
    let step: Step | null = null;
    if (kind === 'unary') {
      const op = rng.pick(['neg', 'abs', 'exp', 'expm1', 'square', 'sin', 'cos', 'tanh', 'sigmoid', 'relu', 'leakyRelu', 'elu',
        'gelu', 'silu', 'softplus', 'clamp', 'log', 'log1p', 'sqrt', 'rsqrt', 'reciprocal', 'powScalar']);
      step = { op, args: [cur], p: op === 'gelu' ? { approximate: rng.pick(['none', 'tanh']) } : op === 'powScalar' ? { e: rng.pick([3, 2.5, -1.5]) } : {} };
    } else if (kind === 'binary') {
      const op = rng.pick(['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'where']);
      // The other operand: the value itself (a shared input), an earlier value of the same shape, or a new broadcastable input.
      const same = values.findIndex((t, i) => i !== cur && t.requiresGrad && t.shape.join() === shape.join());
      const choice = rng.next();
      const other = choice < 0.15 ? cur : choice < 0.35 && same >= 0 ? same : input(rng.bool() ? broadcastable(shape) : [rng.int(1, 3), ...shape]);
      if ((op === 'maximum' || op === 'minimum') && other === cur) continue;
      step = { op, args: [cur, other], p: {} };
    } else if (kind === 'scalar') {
      step = { op: rng.pick(['rsub', 'rdiv']), args: [cur], p: { c: rng.pick([2, -0.75, 1.5]) } };
    } else if (kind === 'reduce') {
      const op = rng.pick(['sum', 'mean', 'prod', 'max', 'min', 'var', 'std', 'logsumexp', 'norm']);
      const dim = op === 'var' || op === 'std' || op === 'logsumexp' || rng.next() < 0.7 ? dimOf(nd) : undefined;
      // Ties make max/min gradients a convention, and a zero std's gradient is rounding noise in torch.
      if ((op === 'max' || op === 'min' || op === 'std') && hasTies(a)) continue;
      if ((op === 'var' || op === 'std') && shape[dim! < 0 ? dim! + nd : dim!]! < 2) continue;
      const multi = (op === 'sum' || op === 'mean') && nd >= 2 && rng.next() < 0.3;
      step = {
        op, args: [cur],
        p: { dim: multi ? [0, -1] : dim, keepDim: rng.bool(), correction: rng.pick([0, 1]), ord: rng.pick([1, 2, 3]) },
      };
    } else if (kind === 'shape') {
      const choices = ['reshape', 'flatten', 'unsqueeze', 'expand'];
      if (nd >= 2) choices.push('transpose', 'permute', 'mT');
      if (nd >= 1) choices.push('narrow', 'slice', 'split', 'chunk');
      if (shape.includes(1)) choices.push('squeeze');
      const op = rng.pick(choices);
      const d = nd > 0 ? dimOf(nd) : 0;
      const len = shape[d < 0 ? d + nd : d] ?? 1;
      if ((op === 'narrow' || op === 'split' || op === 'chunk' || op === 'slice') && len < 1) continue;
      const permutation = Array.from({ length: nd }, (_, i) => i).sort(() => rng.next() - 0.5);
      const start = rng.int(0, Math.max(0, len - 1));
      step = {
        op, args: [cur],
        p: {
          d0: dimOf(nd), d1: dimOf(nd), dims: permutation, dim: op === 'unsqueeze' ? rng.int(-nd - 1, nd) : op === 'squeeze' ? shape.indexOf(1) : d,
          shape: op === 'reshape' ? (nd >= 2 ? [-1, shape[nd - 1]!] : [1, -1]) : [3, ...shape],
          start, length: rng.int(1, len - start), size: rng.int(1, len),
        },
      };
    } else if (kind === 'combine') {
      const choices = ['cat', 'stack'];
      if (nd >= 1 && a.size > 0) choices.push('indexSelect', 'gather', 'scatterAdd', 'matmul');
      if (nd === 1) choices.push('outer', 'dot');
      const op = rng.pick(choices);
      const d = nd > 0 ? dimOf(nd) : 0;
      const dd = d < 0 ? d + nd : d;
      if (op === 'cat' || op === 'stack') {
        if (op === 'cat' && nd === 0) continue;
        const otherShape = [...shape];
        if (op === 'cat') otherShape[dd] = rng.int(1, 3);
        step = { op, args: [cur, rng.bool() && op === 'stack' ? cur : input(otherShape)], p: { dim: op === 'stack' ? rng.int(-nd - 1, nd) : d } };
      } else if (op === 'indexSelect') {
        step = { op, args: [cur, index([rng.int(1, 5)], shape[dd]!)], p: { dim: d } };
      } else if (op === 'gather' || op === 'scatterAdd') {
        const idxShape = shape.map((s, i) => (i === dd ? rng.int(1, 4) : rng.int(1, s)));
        const idx = index(idxShape, shape[dd]!);
        step = op === 'gather' ? { op, args: [cur, idx], p: { dim: d } } : { op, args: [cur, idx, input(idxShape)], p: { dim: d } };
      } else if (op === 'matmul') {
        const k2 = shape[nd - 1]!;
        const right = nd === 1 || rng.bool() ? [k2, rng.int(1, 4)] : [nd >= 3 ? rng.pick([1, shape[nd - 3]!]) : rng.int(1, 2), k2, rng.int(1, 3)];
        step = { op, args: [cur, input(rng.next() < 0.2 ? [k2] : right)], p: {} };
      } else {
        step = { op, args: [cur, input(op === 'dot' ? shape : [rng.int(1, 4)])], p: {} };
      }
    } else {
      const last = shape[nd - 1]!;
      const choices = ['softmax', 'logSoftmax', 'layerNorm', 'linear', 'mseLoss', 'l1Loss', 'huberLoss', 'bceWithLogits', 'bce'];
      if (nd === 2) choices.push('crossEntropy', 'nllLoss', 'embedding');
      const op = rng.pick(choices);
      const probabilities = (): number => constant(shape, Array.from({ length: a.size }, () => Math.round(rng.next() * 1e6) / 1e6));
      if (op === 'softmax' || op === 'logSoftmax') step = { op, args: [cur], p: { dim: dimOf(nd) } };
      else if (op === 'layerNorm' && last < 2) continue;
      else if (op === 'layerNorm') step = { op, args: [cur, input([last]), input([last])], p: { n: last } };
      else if (op === 'linear') {
        const out = rng.int(1, 4);
        step = { op, args: [cur, input([out, last]), input([out])], p: {} };
      } else if (op === 'mseLoss' || op === 'l1Loss' || op === 'huberLoss') step = { op, args: [cur, input(shape)], p: { reduction: reduction() } };
      else if (op === 'bceWithLogits' || op === 'bce') step = { op, args: [cur, probabilities()], p: { reduction: reduction() } };
      else if (op === 'crossEntropy' || op === 'nllLoss') {
        const target = op === 'crossEntropy' && rng.bool() ? constant(shape, softmaxRows(rng, shape)) : index([shape[0]!], last);
        step = { op, args: [cur, target], p: { reduction: reduction(), smoothing: rng.pick([0, 0.1]) } };
      } else step = { op, args: [cur, index([rng.int(1, 5)], shape[0]!)], p: {} };
    }
    let next: number;
    try {
      next = push(step);
    } catch (error) {
      throw new Error(`program ${seed}: ${step.op} ${JSON.stringify(step.p)} on [${shape}] threw ${String(error)}`);
    }
    const out = values[next]!.data();
    // Keep values moderate so finite differences of the reference and float64 rounding stay meaningful.
    if (out.some((x) => !Number.isFinite(x) || Math.abs(x) > 1e3)) {
      steps.length = mark;
      values.length = mark;
      continue;
    }
    cur = next;
  }
  // The chain's output must be the last value: the reference reads it from there.
  if (cur !== values.length - 1) push({ op: 'neg', args: [cur], p: {} });
  const out = values.at(-1)!;
  return { program: { steps, weights: randomData(rng, out.size) }, values };
}

function softmaxRows(rng: Rng, shape: readonly number[]): number[] {
  const rows: number[] = [];
  for (let i = 0; i < shape[0]!; i++) {
    const raw = Array.from({ length: shape[1]! }, () => rng.next() + 0.1);
    const total = raw.reduce((a, b) => a + b, 0);
    rows.push(...raw.map((x) => x / total));
  }
  return rows;
}
