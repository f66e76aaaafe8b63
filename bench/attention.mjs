// Attention benchmark: forward + backward of a pre-LayerNorm transformer
// encoder block (nn.TransformerEncoderLayer, batch 16, sequence 64, width 128,
// 4 heads, MLP 512, ReLU as PyTorch's default or --activation gelu, no
// dropout, float32) and of scaledDotProductAttention
// alone on its shapes, in ms, with PyTorch's time for the same computation
// in the same run when /usr/bin/python3 has torch. Prints a table; asserts
// nothing.
//
//   node bench/attention.mjs [--reps 30] [--rounds 3] [--threads N] [--activation relu|gelu]
//
// Before timing, the PyTorch block is loaded with this block's weights and
// both losses must agree (relative 1e-4). Each figure is the median over all
// rounds of the per-round medians; rounds alternate between the engines so
// that machine noise hits both. PyTorch runs in its own process with the same
// thread count; OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are removed from its
// environment (OpenBLAS then picks its own kernel for this CPU), and
// TAPEGRAD_BENCH_BLAS_DIR=<dir with an OpenBLAS libblas.so.3> is put first on
// its LD_LIBRARY_PATH (Debian's torch otherwise uses the reference BLAS).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, pythonEnv, torchAvailable } from './common.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const tg = createRequire(import.meta.url)(path.join(here, '..', 'dist', 'index.js'));

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = process.argv[i + 1];
  return typeof fallback === 'number' ? Number(v) : v;
}
const reps = arg('reps', 30);
const rounds = arg('rounds', 3);
const threads = arg('threads', tg.getNumThreads());
tg.setNumThreads(threads);
const activation = arg('activation', 'relu');
if (activation !== 'relu' && activation !== 'gelu') throw new RangeError(`--activation must be relu or gelu, got ${activation}`);

const B = 16, L = 64, D = 128, H = 4, FF = 512;
// ---- tapegrad ----------------------------------------------------------------
tg.manualSeed(0);
const block = new tg.nn.TransformerEncoderLayer(D, H, {
  dimFeedforward: FF, dropout: 0, activation, normFirst: true, batchFirst: true,
});
const x = tg.randn([B, L, D]);
const heads = [0, 1, 2].map(() => tg.randn([B, H, L, D / H]).setRequiresGrad(true));
const cotangent = tg.randn([B, H, L, D / H]);

function blockStep() {
  return tg.tidy(() => {
    block.zeroGrad();
    const loss = block.forward(x).square().mean();
    loss.backward();
    return loss.item();
  });
}
function attentionStep() {
  tg.tidy(() => {
    for (const t of heads) t.grad = null;
    // Backward from a given output gradient: the op alone, no loss ops.
    tg.nn.functional.scaledDotProductAttention(heads[0], heads[1], heads[2]).backward(cotangent);
  });
}
function timeIt(fn) {
  for (let i = 0; i < 5; i++) fn();
  const ms = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(ms);
}

// ---- PyTorch -----------------------------------------------------------------
const TORCH_SCRIPT = String.raw`
import json, struct, sys, time, statistics, torch
path, reps, threads, activation = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
torch.set_num_threads(threads)
B, L, D, H, FF = 16, 64, 128, 4, 512
data = open(path, 'rb').read()
n = struct.unpack('<Q', data[:8])[0]
header = json.loads(data[8:8 + n]); base = 8 + n
t = {}
for name, e in header.items():
    if name == '__metadata__': continue
    a, b = e['data_offsets']
    t[name] = torch.frombuffer(bytearray(data[base + a:base + b]), dtype=torch.float32).reshape(e['shape'])
block = torch.nn.TransformerEncoderLayer(D, H, dim_feedforward=FF, dropout=0.0, activation=activation, norm_first=True, batch_first=True)
block.load_state_dict({k[6:]: v for k, v in t.items() if k.startswith('state.')}, strict=True)
block.train()
x = t['x']
def block_step():
    block.zero_grad(set_to_none=True)
    loss = block(x).square().mean()
    loss.backward()
    return loss.item()
q, k, v = (torch.randn(B, H, L, D // H, requires_grad=True) for _ in range(3))
cotangent = torch.randn(B, H, L, D // H)
def attention_step():
    for p in (q, k, v): p.grad = None
    # torch 1.13 has no fused scaled_dot_product_attention: the same math in ops.
    s = torch.softmax(q @ k.transpose(-1, -2) * (D // H) ** -0.5, dim=-1)
    (s @ v).backward(cotangent)
def time_it(fn):
    for _ in range(5): fn()
    ms = []
    for _ in range(reps):
        t0 = time.perf_counter(); fn(); ms.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ms)
loss = block_step()
blas = sorted({l.split()[-1] for l in open('/proc/self/maps') if 'blas' in l.lower() and '/' in l})
print(json.dumps({'loss': loss, 'block': time_it(block_step), 'attention': time_it(attention_step),
                  'version': torch.__version__, 'blas': blas}))
`;

function runTorch(file) {
  const env = pythonEnv(threads);
  const out = execFileSync('/usr/bin/python3', ['-c', TORCH_SCRIPT, file, String(reps), String(threads), activation], { env, encoding: 'utf8' });
  return JSON.parse(out);
}

// ---- run -----------------------------------------------------------------------
const info = tg.backendInfo();
console.log(`tapegrad ${info.version} (${info.isa}), ${threads} threads, ${os.cpus()[0]?.model ?? 'unknown CPU'}`);
console.log(`pre-LN encoder block: batch ${B}, seq ${L}, width ${D}, ${H} heads, MLP ${FF}, ${activation}, float32; ${rounds} rounds of ${reps} reps`);

const withTorch = torchAvailable();
const dir = mkdtempSync(path.join(os.tmpdir(), 'tapegrad-bench-attn-'));
let torchRef = null;
if (withTorch) {
  const file = path.join(dir, 'block.safetensors');
  const named = { x };
  for (const [k, t] of Object.entries(block.stateDict())) named[`state.${k}`] = t;
  tg.saveSync(named, file);
  const ours = blockStep();
  torchRef = runTorch(file);
  const rel = Math.abs(ours - torchRef.loss) / Math.abs(torchRef.loss);
  console.log(`loss: tapegrad ${ours.toPrecision(7)}, PyTorch ${torchRef.loss.toPrecision(7)} (relative difference ${rel.toExponential(1)})`);
  if (!(rel < 1e-4)) {
    console.error('losses disagree: no times reported');
    process.exit(1);
  }
  console.log(`PyTorch ${torchRef.version}, BLAS: ${torchRef.blas.join(', ') || 'unknown'}`);
} else {
  console.log('PyTorch is not importable by /usr/bin/python3: no comparison column.');
}

const ours = { block: [], attention: [] };
const theirs = { block: [], attention: [] };
for (let r = 0; r < rounds; r++) {
  ours.block.push(timeIt(blockStep));
  ours.attention.push(timeIt(attentionStep));
  if (withTorch) {
    const t = runTorch(path.join(dir, 'block.safetensors'));
    theirs.block.push(t.block);
    theirs.attention.push(t.attention);
  }
}
rmSync(dir, { recursive: true, force: true });

const rows = [
  ['encoder block forward+backward', 'block'],
  [`attention alone [${B}, ${H}, ${L}, ${D / H}] forward+backward`, 'attention'],
];
console.log('\n| workload | tapegrad ms | PyTorch ms | PyTorch / tapegrad |');
console.log('| --- | ---: | ---: | ---: |');
for (const [label, key] of rows) {
  const a = median(ours[key]);
  const b = withTorch ? median(theirs[key]) : null;
  console.log(`| ${label} | ${a.toFixed(2)} | ${b === null ? '—' : b.toFixed(2)} | ${b === null ? '—' : (b / a).toFixed(2)} |`);
}
