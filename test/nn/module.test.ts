// nn.Module behaviour shared by every layer: the tree, names, modes, state
// dicts, dtype conversion, and ownership of parameters under tidy.
import { describe, expect, it } from 'vitest';
import { tg } from '../helpers.js';

const nn = tg.nn;

class Block extends nn.Module {
  norm = new nn.LayerNorm(4);
  body = new nn.Sequential(new nn.Linear(4, 4), new nn.GELU(), new nn.Dropout(0.5));
  skip = new nn.Identity();
  forward(x: tg.Tensor): tg.Tensor {
    return this.body.forward(this.norm.forward(x)).add(this.skip.forward(x));
  }
}

class Tied extends nn.Module {
  emb = new nn.Embedding(6, 4);
  head = new nn.Linear(4, 6, { bias: false });
  mask = nn.buffer(tg.tensor([1, 0, 1], { dtype: 'int32' }));
  scale = nn.buffer(tg.tensor([2]));
  constructor() {
    super();
    this.head.weight = this.emb.weight; // weight tying, as in language models
  }
  forward(idx: tg.Tensor): tg.Tensor {
    return this.head.forward(this.emb.forward(idx)).mul(this.scale);
  }
}

describe('nn.Module', () => {
  it('parameter and buffer name a disposed or non-tensor argument', () => {
    const t = tg.zeros([2]);
    t.dispose();
    expect(() => tg.nn.parameter(t)).toThrow(/^parameter: t is a disposed tensor$/);
    expect(() => tg.nn.buffer(t)).toThrow(/^buffer: t is a disposed tensor$/);
    expect(() => tg.nn.parameter([1, 2] as never)).toThrow(new TypeError('parameter: t must be a Tensor, got an array'));
  });

  it('Identity returns its input and has no parameters', () => {
    const id = new nn.Identity();
    const x = tg.tensor([1, 2]);
    expect(id.forward(x)).toBe(x);
    expect(id.parameters()).toEqual([]);
    expect(String(id)).toBe('Identity()');
  });

  it('toString prints the nested tree as PyTorch does', () => {
    expect(String(new Block())).toBe(
      [
        'Block(',
        '  (norm): LayerNorm([4], eps=0.00001, elementwiseAffine=true, bias=true)',
        '  (body): Sequential(',
        '    (0): Linear(inFeatures=4, outFeatures=4, bias=true)',
        "    (1): GELU(approximate='none')",
        '    (2): Dropout(p=0.5)',
        '  )',
        '  (skip): Identity()',
        ')',
      ].join('\n'),
    );
  });

  it('names, children, modules and train/eval through the tree', () => {
    const b = new Block();
    expect(b.namedParameters().map(([n]) => n)).toEqual(['norm.weight', 'norm.bias', 'body.0.weight', 'body.0.bias']);
    expect(b.children().map((m) => m.constructor.name)).toEqual(['LayerNorm', 'Sequential', 'Identity']);
    expect([...b.namedModules()].map(([n]) => n)).toEqual(['', 'norm', 'body', 'body.0', 'body.1', 'body.2', 'skip']);
    b.eval();
    expect(b.modules().every((m) => !m.training)).toBe(true);
    b.train();
    expect(b.modules().every((m) => m.training)).toBe(true);
    // A mode that is not a boolean ('false' is truthy) is refused, changing nothing.
    expect(() => b.train('false' as never)).toThrow(new TypeError("Block.train: mode must be a boolean, got 'false'"));
    expect(() => b.train(0 as never)).toThrow(new TypeError('Block.train: mode must be a boolean, got 0'));
    expect(b.modules().every((m) => m.training === true)).toBe(true);
  });

  it('a tied weight is one parameter; the state dict names it under both names and loads from either', () => {
    tg.manualSeed(3);
    const t = new Tied();
    expect(t.namedParameters().map(([n]) => n)).toEqual(['emb.weight']);
    expect(Object.keys(t.stateDict())).toEqual(['emb.weight', 'head.weight', 'mask', 'scale']);
    tg.manualSeed(4);
    const u = new Tied();
    const { 'emb.weight': w, ...rest } = t.stateDict();
    u.loadStateDict({ ...rest, 'head.weight': w! });
    expect(u.emb.weight.toArray()).toEqual(t.emb.weight.toArray());
  });

  it('a shared child is one module and its state is named at each place; a reference back to an ancestor is not followed', () => {
    const lin = new nn.Linear(2, 2);
    const seq = new nn.Sequential(lin, new nn.ReLU(), lin);
    expect([...seq.namedModules()].map(([n]) => n)).toEqual(['', '0', '1']);
    expect(seq.parameters()).toEqual([lin.weight, lin.bias]);
    expect(Object.keys(seq.stateDict())).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);

    class Looped extends nn.Module {
      fc = new nn.Linear(2, 3);
      self: nn.Module = this;
      inner = new Child(this);
      forward(x: tg.Tensor): tg.Tensor {
        return this.inner.forward(x);
      }
    }
    class Child extends nn.Module {
      proj = new nn.Linear(3, 1);
      parent: nn.Module;
      constructor(parent: nn.Module) {
        super();
        this.parent = parent;
      }
      forward(x: tg.Tensor): tg.Tensor {
        return this.proj.forward(x);
      }
    }
    const m = new Looped();
    expect([...m.namedModules()].map(([n]) => n)).toEqual(['', 'fc', 'inner', 'inner.proj']);
    expect(m.namedParameters().map(([n]) => n)).toEqual(['fc.weight', 'fc.bias', 'inner.proj.weight', 'inner.proj.bias']);
    expect(Object.keys(m.stateDict())).toEqual(['fc.weight', 'fc.bias', 'inner.proj.weight', 'inner.proj.bias']);
    m.eval();
    expect(m.modules().every((x) => !x.training)).toBe(true);
    expect(String(m)).toBe(
      [
        'Looped(',
        '  (fc): Linear(inFeatures=2, outFeatures=3, bias=true)',
        '  (self): <ancestor Looped>',
        '  (inner): Child(',
        '    (proj): Linear(inFeatures=3, outFeatures=1, bias=true)',
        '    (parent): <ancestor Looped>',
        '  )',
        ')',
      ].join('\n'),
    );
    m.to('float64');
    expect(m.parameters().map((p) => p.dtype)).toEqual(['float64', 'float64', 'float64', 'float64']);
    const n = new Looped();
    n.to('float64');
    n.loadStateDict(m.stateDict());
    expect(n.inner.proj.weight.toArray()).toEqual(m.inner.proj.weight.toArray());
  });

  it('loadStateDict takes a Map of tensors as an object of its entries', () => {
    tg.manualSeed(3);
    const a = new tg.nn.Linear(2, 3), b = new tg.nn.Linear(2, 3);
    b.loadStateDict(new Map(Object.entries(a.stateDict())));
    expect(b.weight.toArray()).toEqual(a.weight.toArray());
    expect(b.bias!.toArray()).toEqual(a.bias!.toArray());
    expect(() => b.loadStateDict(new Map([['weight', a.weight]]))).toThrow(/^loadStateDict: missing keys: bias$/);
    expect(() => b.loadStateDict(new Map<unknown, tg.Tensor>([[1, a.weight]]) as never)).toThrow(
      new TypeError('loadStateDict: a Map state dict must have string keys, got 1'),
    );
    expect(() => b.loadStateDict(5 as never)).toThrow(new TypeError('loadStateDict: expected an object (or a Map) of tensors, got 5'));
  });

  it('strict loadStateDict names missing and unexpected keys and shape mismatches; strict: false reports them', () => {
    const b = new Block();
    const state = b.stateDict();
    const { 'norm.bias': _dropped, ...missing } = state;
    expect(() => b.loadStateDict(missing)).toThrow(/^loadStateDict: missing keys: norm.bias$/);
    expect(() => b.loadStateDict({ ...state, extra: tg.ones([1]), 'body.9.weight': tg.ones([1]) })).toThrow(
      /^loadStateDict: unexpected keys: extra, body.9.weight$/,
    );
    expect(() => b.loadStateDict({ ...missing, extra: tg.ones([1]) })).toThrow(/missing keys: norm.bias; unexpected keys: extra/);
    expect(() => b.loadStateDict({ ...state, 'body.0.weight': tg.ones([4, 5]) })).toThrow(
      /'body.0.weight' has shape \[4, 5\] in the state dict and \[4, 4\] in the module/,
    );
    expect(() => b.loadStateDict({ ...state, 'norm.weight': [1, 2] as unknown as tg.Tensor })).toThrow(/'norm.weight' must be a Tensor/);
    const before = b.norm.weight!.toArray();
    const result = b.loadStateDict({ ...missing, extra: tg.ones([1]), 'norm.weight': tg.full([4], 3) }, { strict: false });
    expect(result).toEqual({ missingKeys: ['norm.bias'], unexpectedKeys: ['extra'] });
    expect(b.norm.weight!.toArray()).toEqual([3, 3, 3, 3]);
    expect(before).toEqual([1, 1, 1, 1]);
    // float64 values load into float32 parameters, converted
    b.loadStateDict({ ...state, 'norm.bias': tg.full([4], 0.5, { dtype: 'float64' }) });
    expect(b.norm.bias!.dtype).toBe('float32');
    expect(b.norm.bias!.toArray()).toEqual([0.5, 0.5, 0.5, 0.5]);
  });

  it('loadStateDict sees only own keys: names Object.prototype has are unexpected, inherited tensors fill no missing key', () => {
    const lin = new nn.Linear(2, 2);
    const state = lin.stateDict();
    const extra = { ...state, constructor: tg.ones([1]), toString: tg.ones([1]) };
    expect(() => lin.loadStateDict(extra)).toThrow(/^loadStateDict: unexpected keys: constructor, toString$/);
    expect(lin.loadStateDict(extra, { strict: false })).toEqual({ missingKeys: [], unexpectedKeys: ['constructor', 'toString'] });
    // An own key named __proto__, as JSON.parse and tg.load give it.
    const proto = Object.fromEntries([...Object.entries(state), ['__proto__', tg.ones([1])]]) as Record<string, tg.Tensor>;
    expect(() => lin.loadStateDict(proto)).toThrow(/^loadStateDict: unexpected keys: __proto__$/);
    const before = lin.weight.toArray();
    const inherited = Object.assign(Object.create({ weight: tg.ones([2, 2]) }) as Record<string, tg.Tensor>, { bias: tg.zeros([2]) });
    expect(() => lin.loadStateDict(inherited)).toThrow(/^loadStateDict: missing keys: weight$/);
    expect(lin.loadStateDict(inherited, { strict: false })).toEqual({ missingKeys: ['weight'], unexpectedKeys: [] });
    expect(lin.weight.toArray()).toEqual(before);
    expect(lin.bias!.toArray()).toEqual([0, 0]);
  });

  it("to('float64') converts float parameters and buffers, keeps ties and integer buffers, and trains in float64", () => {
    tg.manualSeed(9);
    const t = new Tied();
    const w32 = t.emb.weight.toArray();
    const liveBefore = tg.memory().liveTensors;
    expect(t.to('float64')).toBe(t);
    expect(tg.memory().liveTensors).toBe(liveBefore); // old tensors freed, one new per old
    expect(t.emb.weight.dtype).toBe('float64');
    expect(t.head.weight).toBe(t.emb.weight);
    expect(t.scale.dtype).toBe('float64');
    expect(t.mask.dtype).toBe('int32');
    expect(t.emb.weight.requiresGrad).toBe(true);
    expect(t.emb.weight.toArray()).toEqual(w32);
    expect(t.parameters()).toHaveLength(1);
    const out = t.forward(tg.tensor([1, 2], { dtype: 'int32' }));
    expect(out.dtype).toBe('float64');
    out.sum().backward();
    expect(t.emb.weight.grad!.dtype).toBe('float64');
    t.to('float32');
    expect(t.emb.weight.dtype).toBe('float32');
    expect(() => t.to('int32')).toThrow(/Tied.to: dtype must be 'float32' or 'float64', got 'int32'/);
  });

  it('to() that fails on one tensor (a disposed one) changes none', () => {
    const b = new Block();
    const before = b.stateDict();
    (b.body[0] as tg.nn.Linear).bias!.dispose();
    expect(() => b.to('float64')).toThrow(/^Block.to: parameter 'body.0.bias' is a disposed tensor$/);
    const after = b.stateDict();
    for (const [k, t] of Object.entries(before)) expect(after[k], k).toBe(t);
    expect(b.norm.weight!.dtype).toBe('float32');
    expect(b.norm.weight!.isDisposed).toBe(false);
  });

  it('Sequential and ModuleList refuse what is not a module, saying what came', () => {
    expect(() => new nn.Sequential(new nn.ReLU(), ((x: tg.Tensor) => x) as never)).toThrow(
      new TypeError('Sequential: argument 1 must be a Module, got a function'),
    );
    expect(() => new nn.ModuleList([new nn.ReLU(), 3 as never])).toThrow(new TypeError('ModuleList.append: module must be a Module, got 3'));
    expect(() => new nn.ModuleList().append(null as never)).toThrow(new TypeError('ModuleList.append: module must be a Module, got null'));
  });

  it('zeroGrad clears the gradients of every parameter', () => {
    const b = new Block();
    b.forward(tg.ones([2, 4])).sum().backward();
    expect(b.parameters().every((p) => p.grad !== null)).toBe(true);
    b.zeroGrad();
    expect(b.parameters().every((p) => p.grad === null)).toBe(true);
  });
});

describe('ownership under tidy', () => {
  it('parameters made inside tidy, their gradients and optimizer state survive it', () => {
    const { model, opt } = tg.tidy(() => {
      const model = new nn.MLP([3, 4, 2]);
      const opt = new tg.optim.Adam(model.parameters(), { lr: 0.01 });
      return { model, opt };
    });
    tg.tidy(() => {
      model.forward(tg.ones([5, 3])).sum().backward();
      opt.step();
    });
    expect(model.parameters().every((p) => p.grad !== null)).toBe(true);
    const before = model.parameters().map((p) => p.toArray());
    tg.tidy(() => {
      opt.zeroGrad();
      model.forward(tg.ones([5, 3])).sum().backward();
      opt.step();
    });
    expect(model.parameters().map((p) => p.toArray())).not.toEqual(before);
    expect(opt.stateDict().state[0]!.step).toBe(2);
  });

  it('tidy returns plain values, and tensors inside arrays and plain objects survive', () => {
    const live = tg.memory().liveTensors;
    expect(tg.tidy(() => tg.ones([3]).sum().item())).toBe(3);
    expect(tg.tidy(() => 'text')).toBe('text');
    expect(tg.tidy(() => undefined)).toBe(undefined);
    expect(tg.memory().liveTensors).toBe(live);
    const out = tg.tidy(() => {
      const a = tg.ones([2]);
      const b = a.mul(3);
      a.add(1); // freed
      return { loss: b.sum().item(), tensors: [b, { c: b.add(1) }], label: 'x' };
    });
    expect(out.loss).toBe(6);
    expect(out.label).toBe('x');
    expect((out.tensors[0] as tg.Tensor).toArray()).toEqual([3, 3]);
    expect(((out.tensors[1] as { c: tg.Tensor }).c).toArray()).toEqual([4, 4]);
    expect(tg.memory().liveTensors).toBe(live + 2);
    (out.tensors[0] as tg.Tensor).dispose();
    ((out.tensors[1] as { c: tg.Tensor }).c).dispose();
    expect(tg.memory().liveTensors).toBe(live);
  });

  it('nested tidy moves returned tensors to the outer scope; an error frees everything', () => {
    const live = tg.memory().liveTensors;
    tg.tidy(() => {
      const inner = tg.tidy(() => tg.ones([2]).mul(2));
      expect(tg.memory().liveTensors).toBe(live + 1);
      expect(inner.toArray()).toEqual([2, 2]);
    });
    expect(tg.memory().liveTensors).toBe(live);
    expect(() =>
      tg.tidy(() => {
        tg.ones([4]);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(tg.memory().liveTensors).toBe(live);
    expect(() => tg.tidy((async () => tg.ones([1])) as never)).toThrow(/use tidyAsync for async functions/);
    expect(tg.memory().liveTensors).toBe(live);
  });

  it('tidyAsync frees across awaits and keeps what it resolves to', async () => {
    // Checked on the tensors themselves: a global count can move while awaiting (finalizers run).
    let inside: tg.Tensor | undefined;
    const kept = await tg.tidyAsync(async () => {
      inside = tg.ones([3]);
      await new Promise((r) => setTimeout(r, 1));
      const b = inside.mul(2);
      return { b, n: 1 };
    });
    expect(kept.n).toBe(1);
    expect(kept.b.toArray()).toEqual([2, 2, 2]);
    expect(kept.b.isDisposed).toBe(false);
    expect(inside!.isDisposed).toBe(true);
    kept.b.dispose();
    let orphan: tg.Tensor | undefined;
    await expect(
      tg.tidyAsync(async () => {
        orphan = tg.ones([2]);
        throw new Error('async boom');
      }),
    ).rejects.toThrow('async boom');
    expect(orphan!.isDisposed).toBe(true);
  });

  it('tg.memory() reports live tensors, live bytes and a peak that only grows', () => {
    const m0 = tg.memory();
    expect(m0.liveBytes).toBeLessThanOrEqual(m0.peakBytes);
    const t = tg.zeros([1000], { dtype: 'float64' });
    const m1 = tg.memory();
    expect(m1.liveTensors).toBe(m0.liveTensors + 1);
    expect(m1.liveBytes).toBe(m0.liveBytes + 8000);
    expect(m1.peakBytes).toBeGreaterThanOrEqual(m1.liveBytes);
    t.dispose();
    const m2 = tg.memory();
    expect(m2.liveBytes).toBe(m0.liveBytes);
    expect(m2.peakBytes).toBe(Math.max(m1.peakBytes, m2.peakBytes));
    expect(m2.peakBytes).toBeGreaterThanOrEqual(m0.liveBytes + 8000);
  });
});
