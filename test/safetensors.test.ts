import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tg, torchAvailable } from './helpers.js';

// An independent, minimal reading of the format from its specification, used
// to write files the way another implementation would and to check ours.
const ref = {
  write(entries: { name: string; dtype: string; shape: number[]; bytes: Uint8Array }[], metadata?: Record<string, string>): Buffer {
    const header: Record<string, unknown> = {};
    if (metadata) header.__metadata__ = metadata;
    let offset = 0;
    for (const e of entries) {
      header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + e.bytes.length] };
      offset += e.bytes.length;
    }
    const json = Buffer.from(JSON.stringify(header));
    const out = Buffer.alloc(8 + json.length + offset);
    out.writeBigUInt64LE(BigInt(json.length));
    json.copy(out, 8);
    let pos = 8 + json.length;
    for (const e of entries) {
      out.set(e.bytes, pos);
      pos += e.bytes.length;
    }
    return out;
  },
  read(buf: Buffer): { header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>; data: Buffer } {
    const n = Number(buf.readBigUInt64LE(0));
    return { header: JSON.parse(buf.subarray(8, 8 + n).toString()), data: buf.subarray(8 + n) };
  },
};

const bytesOf = (a: Float32Array | Float64Array | Int32Array | Uint16Array | BigInt64Array) => new Uint8Array(a.buffer.slice(0));
const dir = mkdtempSync(path.join(tmpdir(), 'tapegrad-st-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('safetensors round trips', () => {
  it('saves and loads float32, float64 and int32 with metadata, to files and buffers', async () => {
    const tensors = {
      'layer.weight': tg.tensor([[1.5, -2], [3, 4.25]]),
      'layer.bias': tg.tensor([0.1, 0.2], { dtype: 'float64' }),
      steps: tg.tensor([7, -8, 9], { dtype: 'int32' }),
      scalar: tg.tensor(3),
      empty: tg.zeros([0, 4]),
    };
    const file = path.join(dir, 'a.safetensors');
    await tg.save(tensors, file, { metadata: { format: 'pt', note: 'hi' } });
    const back = await tg.load(file);
    expect(Object.keys(back).sort()).toEqual(Object.keys(tensors).sort());
    for (const [k, t] of Object.entries(tensors)) {
      expect(back[k]!.dtype).toBe(t.dtype);
      expect(back[k]!.shape).toEqual(t.shape);
      expect(Array.from(back[k]!.data())).toEqual(Array.from(t.data()));
    }
    tg.saveSync(tensors, file);
    expect(tg.loadSync(file)['layer.bias']!.toArray()).toEqual([0.1, 0.2]);
    const buf = tg.serialize(tensors, { metadata: { a: 'b' } });
    expect(tg.deserialize(buf).metadata).toEqual({ a: 'b' });
    // Header padded with spaces to a multiple of 8.
    expect(Number(buf.readBigUInt64LE(0)) % 8).toBe(0);
  });

  it('writes files the reference reader parses, with contiguous data for views', () => {
    const t = tg.tensor([[1, 2, 3], [4, 5, 6]]).transpose(0, 1);
    const buf = tg.serialize({ t, i: tg.tensor([1, 2], { dtype: 'int32' }) });
    const { header, data } = ref.read(buf);
    // Same dtype size: ordered by name.
    expect(header.i).toEqual({ dtype: 'I32', shape: [2], data_offsets: [0, 8] });
    expect(header.t).toEqual({ dtype: 'F32', shape: [3, 2], data_offsets: [8, 32] });
    expect(Array.from(new Float32Array(data.buffer.slice(data.byteOffset + 8, data.byteOffset + 32)))).toEqual([1, 4, 2, 5, 3, 6]);
  });

  it('reads files written by the reference writer, converting F16, BF16 and I64', () => {
    const f16 = new Uint16Array([0x3c00, 0xc000, 0x3555, 0x7c00, 0x0001]); // 1, -2, ~0.333, inf, 2^-24
    const bf16 = new Uint16Array([0x3f80, 0xc040, 0x4049]); // 1, -3, ~3.14
    const i64 = new BigInt64Array([5n, -7n, 2147483647n]);
    const buf = ref.write(
      [
        { name: 'h', dtype: 'F16', shape: [5], bytes: bytesOf(f16) },
        { name: 'b', dtype: 'BF16', shape: [3], bytes: bytesOf(bf16) },
        { name: 'l', dtype: 'I64', shape: [3], bytes: bytesOf(i64) },
        { name: 'f', dtype: 'F64', shape: [1, 1], bytes: bytesOf(new Float64Array([Math.PI])) },
      ],
      { source: 'reference' },
    );
    const { tensors, metadata } = tg.deserialize(buf);
    expect(metadata).toEqual({ source: 'reference' });
    const h = Array.from(tensors.h!.data());
    expect(h[0]).toBe(1);
    expect(h[1]).toBe(-2);
    expect(h[2]).toBeCloseTo(1 / 3, 3);
    expect(h[3]).toBe(Infinity);
    expect(h[4]).toBe(2 ** -24);
    expect(tensors.b!.dtype).toBe('float32');
    expect(Array.from(tensors.b!.data())).toEqual([1, -3, 3.140625]);
    expect(tensors.l!.dtype).toBe('int32');
    expect(tensors.l!.toArray()).toEqual([5, -7, 2147483647]);
    expect(tensors.f!.toArray()).toEqual([[Math.PI]]);
  });

  it('writes tied weights once', () => {
    const w = tg.tensor([1, 2]);
    const { header } = ref.read(tg.serialize({ 'a.weight': w, 'b.weight': w }));
    expect(Object.keys(header)).toEqual(['a.weight']);
  });
});

// Tensor names are data: the reference implementation takes any string, so
// names that Object.prototype also has are ordinary own keys both ways.
describe('safetensors names that Object.prototype has', () => {
  const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty'];
  // Own properties, as JSON.parse makes them (an object literal's __proto__ would set the prototype).
  const named = () => Object.fromEntries(names.map((n, i) => [n, tg.tensor([i + 1])])) as Record<string, tg.Tensor>;

  it('a file from another writer that names a tensor __proto__ gives it as an own key', () => {
    const json = Buffer.from('{"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}');
    const file = Buffer.alloc(8 + json.length + 8);
    file.writeBigUInt64LE(BigInt(json.length));
    json.copy(file, 8);
    file.set(bytesOf(new Float32Array([5, 6])), 8 + json.length);
    const { tensors } = tg.deserialize(file);
    expect(Object.getPrototypeOf(tensors)).toBe(Object.prototype);
    expect(Object.keys(tensors)).toEqual(['__proto__', 'x']);
    expect(Object.hasOwn(tensors, '__proto__')).toBe(true);
    expect(tensors['__proto__']!.toArray()).toEqual([5]);
  });

  it('round trip through serialize, a file and the reference reader, from an object or a Map', () => {
    const tensors = named();
    const metadata = JSON.parse('{"__proto__":"m","constructor":"c"}') as Record<string, string>;
    const buf = tg.serialize(tensors, { metadata });
    expect(Object.keys(ref.read(buf).header).sort()).toEqual(['__metadata__', ...names].sort());
    const back = tg.deserialize(buf);
    expect(Object.getPrototypeOf(back.tensors)).toBe(Object.prototype);
    expect(Object.keys(back.tensors).sort()).toEqual([...names].sort());
    for (const n of names) expect(back.tensors[n]!.toArray()).toEqual(tensors[n]!.toArray());
    expect(Object.entries(back.metadata!)).toEqual([['__proto__', 'm'], ['constructor', 'c']]);
    const file = path.join(dir, 'names.safetensors');
    tg.saveSync(new Map(Object.entries(tensors)), file);
    const loaded = tg.loadSync(file);
    expect(Object.keys(loaded).sort()).toEqual([...names].sort());
    expect(loaded['__proto__']!.toArray()).toEqual([1]);
  });
});

describe('safetensors refuses arguments it would misread', () => {
  it('serialize, save and saveSync take an object or a Map of tensors, and options with metadata only', async () => {
    const t = tg.tensor([1, 2]);
    for (const bad of [5, 'ab', null, [t], t]) {
      const shown = bad === null ? 'null' : bad === 5 ? '5' : bad === 'ab' ? "'ab'" : Array.isArray(bad) ? 'an array' : 'a Tensor';
      const message = `tensors must be an object or a Map of named tensors (as model.stateDict() returns), got ${shown}`;
      expect(() => tg.serialize(bad as never)).toThrow(new TypeError(`serialize: ${message}`));
      expect(() => tg.saveSync(bad as never, path.join(dir, 'bad.safetensors'))).toThrow(new TypeError(`saveSync: ${message}`));
      await expect(tg.save(bad as never, path.join(dir, 'bad.safetensors'))).rejects.toThrow(new TypeError(`save: ${message}`));
    }
    expect(() => tg.serialize({ t }, 5 as never)).toThrow(/^serialize: options must be an object like .*, got 5$/);
    expect(() => tg.serialize({ t }, { meta: { a: 'b' } } as never)).toThrow(
      new TypeError("serialize: unknown option 'meta'; the options are metadata"),
    );
    expect(() => tg.serialize({ t }, { metadata: { a: 1 } } as never)).toThrow(new TypeError("serialize: metadata 'a' must be a string, got 1"));
  });

  it('paths are strings: a number would be read as a file descriptor', async () => {
    const t = tg.tensor([1, 2]);
    expect(() => tg.loadSync(0 as never)).toThrow(new TypeError('loadSync: path must be a string, got 0'));
    await expect(tg.load(0 as never)).rejects.toThrow(new TypeError('load: path must be a string, got 0'));
    expect(() => tg.saveSync({ t }, 5 as never)).toThrow(new TypeError('saveSync: path must be a string, got 5'));
    await expect(tg.save({ t }, 5 as never)).rejects.toThrow(new TypeError('save: path must be a string, got 5'));
    expect(() => tg.deserialize('abc' as never)).toThrow(new TypeError("deserialize: expected a Buffer or Uint8Array, got 'abc'"));
  });
});

describe('safetensors rejects malformed files', () => {
  const good = () => ref.write([{ name: 'x', dtype: 'F32', shape: [2], bytes: bytesOf(new Float32Array([1, 2])) }]);
  const withHeader = (header: string, data = new Uint8Array(8)) => {
    const json = Buffer.from(header);
    const out = Buffer.alloc(8 + json.length + data.length);
    out.writeBigUInt64LE(BigInt(json.length));
    json.copy(out, 8);
    out.set(data, 8 + json.length);
    return out;
  };
  const cases: [string, () => Uint8Array, RegExp][] = [
    ['too short', () => new Uint8Array(5), /too few for the 8-byte header length/],
    ['truncated data', () => good().subarray(0, good().length - 1), /need 8 bytes of data, but the file has 7/],
    ['header past the end', () => {
      const b = good();
      b.writeBigUInt64LE(10_000n);
      return b;
    }, /runs past the end of the file/],
    ['huge header length', () => {
      const b = good();
      b.writeBigUInt64LE(2n ** 63n);
      return b;
    }, /exceeds the limit/],
    ['not JSON', () => withHeader('{"x": nope}'), /not valid JSON/],
    ['not starting with {', () => withHeader(' {"x":{}}'), /must start with '\{'/],
    ['not an object', () => withHeader('{"x": 3}'), /must be an object/],
    ['duplicate names', () => withHeader('{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'), /duplicate key "x"/],
    ['unknown dtype', () => withHeader('{"x":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}'), /dtype "Q4"; supported/],
    ['a dtype that Object.prototype has', () => withHeader('{"x":{"dtype":"toString","shape":[2],"data_offsets":[0,8]}}'), /dtype "toString"; supported/],
    ['shape not matching offsets', () => withHeader('{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}'), /needs 12 bytes, but its data_offsets cover 8/],
    ['negative shape', () => withHeader('{"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}'), /non-negative integers/],
    ['more than 64 dims', () => withHeader(`{"x":{"dtype":"F32","shape":[${new Array(100).fill(1).join(',')}],"data_offsets":[0,4]}}`),
      /^deserialize: tensor 'x' has 100 dims; at most 64 are supported$/],
    ['offsets reversed', () => withHeader('{"x":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}'), /begin <= end/],
    ['overlap', () => withHeader('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'), /overlaps/],
    ['gap', () => withHeader('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'), /gap in the data/],
    ['trailing bytes', () => withHeader('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'), /4 bytes after the last tensor/],
    ['out of range offsets', () => withHeader('{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}'), /need 16 bytes of data, but the file has 8/],
    ['shape overflow', () => withHeader('{"a":{"dtype":"F64","shape":[9007199254740991,9007199254740991],"data_offsets":[0,8]}}'), /too large/],
    ['metadata not flat', () => withHeader('{"__metadata__":{"a":{"b":"c"}}}', new Uint8Array(0)), /__metadata__ must map strings to strings/],
    ['I64 out of int32 range', () => ref.write([{ name: 'l', dtype: 'I64', shape: [1], bytes: bytesOf(new BigInt64Array([2n ** 40n])) }]), /does not fit in int32/],
    ['invalid UTF-8', () => withHeader('{"\xff":1}'.replace('\xff', '\u00ff')).fill(0xff, 10, 11), /not valid UTF-8/],
  ];
  for (const [name, make, message] of cases) {
    it(name, () => {
      expect(() => tg.deserialize(make())).toThrow(tg.TapegradError);
      expect(() => tg.deserialize(make())).toThrow(message);
    });
  }

  it('load names the file operation in its errors', async () => {
    const file = path.join(dir, 'bad.safetensors');
    writeFileSync(file, Buffer.from([1, 2, 3]));
    await expect(tg.load(file)).rejects.toThrow(/^load: /);
    expect(() => tg.loadSync(file)).toThrow(/^loadSync: /);
  });

  it('survives thousands of random mutations of a valid file', () => {
    const base = tg.serialize({
      a: tg.tensor([[1, 2], [3, 4]]),
      b: tg.tensor([1, 2, 3], { dtype: 'int32' }),
      c: tg.tensor([0.5], { dtype: 'float64' }),
    }, { metadata: { k: 'v' } });
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    let parsed = 0;
    for (let i = 0; i < 3000; i++) {
      let b: Buffer = Buffer.from(base);
      const kind = rnd(4);
      if (kind === 0) for (let k = 0; k <= rnd(4); k++) b[rnd(b.length)] = rnd(256);
      else if (kind === 1) b = b.subarray(0, rnd(b.length));
      else if (kind === 2) b.writeBigUInt64LE(BigInt(rnd(200)), 0);
      else {
        const pos = 8 + rnd(Number(base.readBigUInt64LE(0)));
        b[pos] = '{}[],:"0123456789-e'.charCodeAt(rnd(19));
      }
      try {
        const { tensors } = tg.deserialize(b);
        parsed++;
        for (const t of Object.values(tensors)) t.data();
      } catch (e) {
        expect(e).toBeInstanceOf(tg.TapegradError);
      }
    }
    expect(parsed).toBeGreaterThan(0);
  });
});

describe('safetensors interoperability with a file on disk', () => {
  it('a file written here has the exact bytes the spec describes', () => {
    const file = path.join(dir, 'spec.safetensors');
    tg.saveSync({ w: tg.tensor([1, 2], { dtype: 'int32' }) }, file);
    const buf = readFileSync(file);
    const json = '{"w":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}}';
    const padded = json + ' '.repeat((8 - (json.length % 8)) % 8);
    expect(Number(buf.readBigUInt64LE(0))).toBe(padded.length);
    expect(buf.subarray(8, 8 + padded.length).toString()).toBe(padded);
    expect(Array.from(buf.subarray(8 + padded.length))).toEqual([1, 0, 0, 0, 2, 0, 0, 0]);
  });
});

// PyTorch 1.13 (Debian's python3-torch) has no safetensors writer of its own,
// so the Python side serialises torch tensors' own bytes (including float16,
// bfloat16 and int64 storage) following the spec with json and struct only,
// and reads tapegrad's file back into torch tensors the same way.
const TORCH_SCRIPT = String.raw`
import json, struct, sys, torch
mode, path = sys.argv[1], sys.argv[2]
def write(named, path):
    header, blobs, offset = {}, [], 0
    names = {torch.float32: 'F32', torch.float64: 'F64', torch.int32: 'I32', torch.float16: 'F16', torch.bfloat16: 'BF16', torch.int64: 'I64'}
    for name, t in named.items():
        t = t.contiguous()
        raw = bytes(t.view(torch.uint8).flatten().tolist()) if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {'dtype': names[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(raw)]}
        blobs.append(raw); offset += len(raw)
    h = json.dumps(header).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h))); f.write(h); f.write(b''.join(blobs))
if mode == 'write':
    torch.manual_seed(0)
    lin = torch.nn.Linear(3, 2)
    write({'weight': lin.weight.detach(), 'bias': lin.bias.detach().double(),
           'half': torch.tensor([0.5, -2.0, 65504.0], dtype=torch.float16),
           'bf': torch.tensor([1.0, -3.5], dtype=torch.bfloat16),
           'idx': torch.tensor([[1, -2], [3, 4]], dtype=torch.int64)}, path)
    print(json.dumps({'weight': lin.weight.tolist(), 'bias': lin.bias.tolist()}))
else:
    data = open(path, 'rb').read()
    n = struct.unpack('<Q', data[:8])[0]
    header = json.loads(data[8:8 + n]); base = 8 + n
    types = {'F32': torch.float32, 'F64': torch.float64, 'I32': torch.int32}
    out = {}
    for name, e in header.items():
        if name == '__metadata__': continue
        a, b = e['data_offsets']
        t = torch.frombuffer(bytearray(data[base + a:base + b]), dtype=types[e['dtype']]).reshape(e['shape'])
        out[name] = {'dtype': str(t.dtype), 'values': t.tolist()}
    print(json.dumps(out))
`;

describe.runIf(torchAvailable())('safetensors interoperability with PyTorch', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tapegrad-torch-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const python = (...args: string[]) =>
    JSON.parse(execFileSync('/usr/bin/python3', ['-c', TORCH_SCRIPT, ...args], { encoding: 'utf8' }));

  it('loads a torch.nn.Linear written from PyTorch, with float16, bfloat16 and int64 converted', () => {
    const file = path.join(dir, 'linear.safetensors');
    const expected = python('write', file);
    const loaded = tg.loadSync(file);
    expect(loaded.weight!.dtype).toBe('float32');
    expect(Array.from(loaded.weight!.data())).toEqual(Array.from(new Float32Array(expected.weight.flat())));
    expect(loaded.bias!.dtype).toBe('float64');
    expect(Array.from(loaded.bias!.data())).toEqual(Array.from(new Float32Array(expected.bias)).map(Number));
    expect(Array.from(loaded.half!.data())).toEqual([0.5, -2, 65504]);
    expect(Array.from(loaded.bf!.data())).toEqual([1, -3.5]);
    expect(loaded.idx!.toArray()).toEqual([[1, -2], [3, 4]]);
    const model = new tg.nn.Linear(3, 2);
    model.loadStateDict({ weight: loaded.weight!, bias: loaded.bias!.to('float32') });
    expect(Array.from(model.weight.data())).toEqual(Array.from(loaded.weight!.data()));
  });

  it('writes a file PyTorch reads back with the same values', () => {
    const file = path.join(dir, 'ours.safetensors');
    const t = {
      a: tg.tensor([[1.5, -2.25], [3, 1e-8]]),
      b: tg.tensor([0.1, 0.2], { dtype: 'float64' }),
      c: tg.tensor([-7, 2147483647], { dtype: 'int32' }),
    };
    tg.saveSync(t, file, { metadata: { format: 'pt' } });
    const back = python('read', file);
    expect(back.a).toEqual({ dtype: 'torch.float32', values: [[1.5, -2.25], [3, Math.fround(1e-8)]] });
    expect(back.b).toEqual({ dtype: 'torch.float64', values: [0.1, 0.2] });
    expect(back.c).toEqual({ dtype: 'torch.int32', values: [-7, 2147483647] });
  });
});
