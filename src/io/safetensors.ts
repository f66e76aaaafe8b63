// The safetensors format: an 8-byte little-endian header length, a JSON
// header naming each tensor's dtype, shape and byte range, then the data.
// Reading validates like the reference implementation: untrusted files give
// errors, never over-reads or wrong tensors.
import { promises as fsp, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { TapegradError, checkOptions, describe } from '../errors.js';
import { tensor } from '../creation.js';
import { Tensor, type DType, isTensor } from '../tensor.js';
import { JsonError, parseJsonStrict } from './json.js';

const MAX_HEADER_BYTES = 100_000_000;

type FileDType = 'F32' | 'F64' | 'I32' | 'F16' | 'BF16' | 'I64';
const BYTES: Record<FileDType, number> = { F32: 4, F64: 8, I32: 4, F16: 2, BF16: 2, I64: 8 };
const FILE_DTYPE: Record<DType, FileDType> = { float32: 'F32', float64: 'F64', int32: 'I32' };

export type Metadata = Record<string, string>;

export interface SafetensorsContents {
  tensors: Record<string, Tensor>;
  metadata: Metadata | null;
}

function fail(op: string, message: string): never {
  throw new TapegradError(`${op}: ${message}`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function safeInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

// IEEE half and bfloat16 to float32 values.
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

interface Entry {
  name: string;
  dtype: FileDType;
  shape: number[];
  begin: number;
  end: number;
}

/** Parses safetensors bytes into tensors (copies; the buffer may be reused). */
/** Decodes safetensors bytes (a Buffer or Uint8Array) into named tensors and the header's metadata. */
export function deserialize(bytes: Uint8Array): SafetensorsContents {
  return decode(bytes, 'deserialize');
}

function decode(bytes: Uint8Array, op: string): SafetensorsContents {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`${op}: expected a Buffer or Uint8Array, got ${describe(bytes)}`);
  if (bytes.length < 8) fail(op, `the file has ${bytes.length} bytes, too few for the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES))
    fail(op, `the header length ${headerLength} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
  const n = Number(headerLength);
  if (8 + n > bytes.length) fail(op, `the header length ${n} runs past the end of the file (${bytes.length} bytes)`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    return fail(op, 'the header is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail(op, `the header must start with '{', got ${JSON.stringify(text.slice(0, 10))}`);
  let header: unknown;
  try {
    header = parseJsonStrict(text);
  } catch (e) {
    if (e instanceof JsonError) fail(op, `the header is not valid JSON: ${e.message}`);
    throw e;
  }
  if (!isPlainObject(header)) fail(op, 'the header must be a JSON object');

  let metadata: Metadata | null = null;
  const entries: Entry[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isPlainObject(info)) fail(op, '__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(info))
        if (typeof v !== 'string') fail(op, `__metadata__ must map strings to strings; '${k}' is not a string`);
      metadata = { ...(info as Metadata) };
      continue;
    }
    if (!isPlainObject(info)) fail(op, `the entry for tensor '${name}' must be an object`);
    const { dtype, shape, data_offsets: offsets } = info;
    if (typeof dtype !== 'string' || !Object.hasOwn(BYTES, dtype))
      fail(op, `tensor '${name}' has dtype ${JSON.stringify(dtype)}; supported: ${Object.keys(BYTES).join(', ')}`);
    if (!Array.isArray(shape) || !shape.every(safeInteger))
      fail(op, `tensor '${name}' has shape ${JSON.stringify(shape)}; expected an array of non-negative integers`);
    // The most dims a tensor may have (the native shape limit), checked here so the error names this file's tensor.
    if (shape.length > 64) fail(op, `tensor '${name}' has ${shape.length} dims; at most 64 are supported`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(safeInteger) || (offsets[0] as number) > (offsets[1] as number))
      fail(op, `tensor '${name}' has data_offsets ${JSON.stringify(offsets)}; expected [begin, end] with begin <= end`);
    let bytesNeeded = BYTES[dtype as FileDType];
    for (const s of shape as number[]) {
      bytesNeeded *= s;
      if (!Number.isSafeInteger(bytesNeeded)) fail(op, `tensor '${name}' has a shape too large to address`);
    }
    const [begin, end] = offsets as [number, number];
    if (end - begin !== bytesNeeded)
      fail(op, `tensor '${name}' of dtype ${dtype} and shape [${(shape as number[]).join(', ')}] needs ${bytesNeeded} bytes, but its data_offsets cover ${end - begin}`);
    entries.push({ name, dtype: dtype as FileDType, shape: shape as number[], begin, end });
  }

  // Sorted by offset, the tensors must tile the data buffer exactly.
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const e of sorted) {
    if (e.begin !== cursor)
      fail(op, e.begin < cursor
        ? `tensor '${e.name}' overlaps the previous tensor (starts at ${e.begin}, previous ends at ${cursor})`
        : `there is a gap in the data before tensor '${e.name}' (bytes ${cursor} to ${e.begin} belong to no tensor)`);
    cursor = e.end;
  }
  if (cursor !== dataLength)
    fail(op, cursor > dataLength
      ? `the tensors need ${cursor} bytes of data, but the file has ${dataLength}`
      : `the file has ${dataLength - cursor} bytes after the last tensor`);

  // Own properties, as JSON.parse makes them: a tensor named '__proto__' stays a key.
  const tensors: Record<string, Tensor> = Object.fromEntries(entries.map((e) => [e.name, readTensor(op, bytes, dataStart, e)]));
  return { tensors, metadata };
}

function readTensor(op: string, bytes: Uint8Array, dataStart: number, e: Entry): Tensor {
  const start = dataStart + e.begin;
  const count = (e.end - e.begin) / BYTES[e.dtype];
  // A fresh copy: typed arrays need aligned offsets, and a Buffer may be a view of a shared pool.
  const copy = new Uint8Array(e.end - e.begin);
  copy.set(bytes.subarray(start, dataStart + e.end));
  const raw = copy.buffer;
  const view = new DataView(raw);
  switch (e.dtype) {
    case 'F32':
      return tensor(littleEndian ? new Float32Array(raw) : Float32Array.from({ length: count }, (_, i) => view.getFloat32(4 * i, true)), { shape: e.shape });
    case 'F64':
      return tensor(littleEndian ? new Float64Array(raw) : Float64Array.from({ length: count }, (_, i) => view.getFloat64(8 * i, true)), { shape: e.shape });
    case 'I32':
      return tensor(littleEndian ? new Int32Array(raw) : Int32Array.from({ length: count }, (_, i) => view.getInt32(4 * i, true)), { shape: e.shape });
    case 'F16':
      return tensor(Float32Array.from({ length: count }, (_, i) => halfToFloat(view.getUint16(2 * i, true))), { shape: e.shape });
    case 'BF16': {
      const out = new Float32Array(count);
      const outView = new DataView(out.buffer);
      for (let i = 0; i < count; i++) outView.setUint32(4 * i, view.getUint16(2 * i, true) << 16, true);
      if (!littleEndian) for (let i = 0; i < count; i++) out[i] = outView.getFloat32(4 * i, true);
      return tensor(out, { shape: e.shape });
    }
    case 'I64': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const v = view.getBigInt64(8 * i, true);
        if (v < -2147483648n || v > 2147483647n)
          fail(op, `tensor '${e.name}' (I64) holds ${v} at index ${i}, which does not fit in int32`);
        out[i] = Number(v);
      }
      return tensor(out, { shape: e.shape });
    }
  }
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export interface SaveOptions {
  /** Free-form string pairs stored in the header's __metadata__. */
  metadata?: Metadata;
}

/**
 * Encodes named tensors as safetensors bytes. A tensor that appears under
 * several names (tied weights) is written once, under its first name.
 */
export function serialize(tensors: Record<string, Tensor> | Map<string, Tensor>, options: SaveOptions = {}): Uint8Array {
  return encode(tensors, options, 'serialize');
}

// Returns a Buffer (a Uint8Array) so fs writes it without a copy.
function encode(tensors: Record<string, Tensor> | Map<string, Tensor>, options: SaveOptions, op: string): Buffer {
  // A number or a string has no entries (or one per character), an array has names '0', '1', ...: each would write
  // a file other than the one meant, silently.
  if (!(tensors instanceof Map) && (tensors === null || typeof tensors !== 'object' || Array.isArray(tensors) || isTensor(tensors)))
    throw new TypeError(`${op}: tensors must be an object or a Map of named tensors (as model.stateDict() returns), got ${describe(tensors)}`);
  checkOptions(options, op, "{ metadata: { format: 'pt' } }", ['metadata']);
  const pairs = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const seen = new Set<Tensor>();
  const unique: [string, Tensor][] = [];
  for (const [name, t] of pairs) {
    if (!isTensor(t)) throw new TypeError(`${op}: '${name}' must be a Tensor`);
    if (t.isDisposed) throw new TapegradError(`${op}: '${name}' is a disposed tensor`);
    if (name === '__metadata__') throw new RangeError(`${op}: '__metadata__' is reserved and cannot name a tensor`);
    if (seen.has(t)) continue;
    seen.add(t);
    unique.push([name, t]);
  }
  if (options.metadata !== undefined) {
    if (!isPlainObject(options.metadata)) throw new TypeError(`${op}: metadata must be an object of strings, got ${describe(options.metadata)}`);
    for (const [k, v] of Object.entries(options.metadata))
      if (typeof v !== 'string') throw new TypeError(`${op}: metadata '${k}' must be a string, got ${describe(v)}`);
  }
  // Larger dtypes first, then by name, as the reference writer orders them.
  unique.sort(([na, a], [nb, b]) => BYTES[FILE_DTYPE[b.dtype]] - BYTES[FILE_DTYPE[a.dtype]] || (na < nb ? -1 : na > nb ? 1 : 0));
  // No prototype, so that a tensor named '__proto__' becomes a key of the header.
  const header: Record<string, unknown> = Object.create(null);
  if (options.metadata) header.__metadata__ = options.metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of unique) {
    const data = t.data();
    const chunk = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (!littleEndian) throw new TapegradError(`${op}: big-endian hosts are not supported`);
    header[name] = { dtype: FILE_DTYPE[t.dtype], shape: [...t.shape], data_offsets: [offset, offset + chunk.length] };
    chunks.push(chunk);
    offset += chunk.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let pos = 8 + headerBytes.length;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}

/** Writes named tensors (e.g. model.stateDict()) to a .safetensors file; replaces it atomically. */
// A number would be taken for a file descriptor (or written as a file named '5'), a Buffer or URL spliced into a temp name.
function pathArg(path: unknown, op: string): string {
  if (typeof path !== 'string') throw new TypeError(`${op}: path must be a string, got ${describe(path)}`);
  return path;
}

export async function save(tensors: Record<string, Tensor> | Map<string, Tensor>, path: string, options: SaveOptions = {}): Promise<void> {
  const bytes = encode(tensors, options, 'save');
  pathArg(path, 'save');
  const tmp = `${path}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, bytes);
  await fsp.rename(tmp, path);
}

export function saveSync(tensors: Record<string, Tensor> | Map<string, Tensor>, path: string, options: SaveOptions = {}): void {
  const bytes = encode(tensors, options, 'saveSync');
  pathArg(path, 'saveSync');
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, path);
}

/** Reads a .safetensors file into named tensors. */
export async function load(path: string): Promise<Record<string, Tensor>> {
  return decode(await fsp.readFile(pathArg(path, 'load')), 'load').tensors;
}

export function loadSync(path: string): Record<string, Tensor> {
  return decode(readFileSync(pathArg(path, 'loadSync')), 'loadSync').tensors;
}
