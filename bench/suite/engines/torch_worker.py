# PyTorch as an optional column of `npm run bench`: the same protocol as
# worker.mjs (JSON lines on stdin, tagged replies on stdout), the same data files.
import json, math, os, sys, time
import numpy as np
import torch
import torch.nn.functional as F

REPLY = '@@bench '


def reply(obj):
    sys.stdout.write(REPLY + json.dumps(obj) + '\n')
    sys.stdout.flush()


def sample_indices(m, n, count=32):
    return [((i * 7919) % m) * n + ((i * 104729) % n) for i in range(count)]


def read_data(manifest_file):
    with open(manifest_file) as f:
        manifest = json.load(f)
    out = {}
    for name, info in manifest.items():
        dtype = np.int32 if info['dtype'] == 'int32' else np.float32
        out[name] = torch.from_numpy(np.fromfile(info['file'], dtype=dtype).copy())
    return out


def setup(cell, d):
    p = cell['params']
    w = cell['workload']
    if w == 'matmul':
        m, k, n, layout = p['m'], p['k'], p['n'], p['layout']
        a = d['a'].reshape(k, m) if layout == 'tn' else d['a'].reshape(m, k)
        b = d['b'].reshape(n, k) if layout == 'nt' else d['b'].reshape(k, n)
        def once():
            return (a.t() if layout == 'tn' else a) @ (b.t() if layout == 'nt' else b)
        def check():
            c = once().reshape(-1)
            return [float(c[i]) for i in sample_indices(m, n)]
        return check, once
    if w == 'mlp':
        d0, d1, d2, d3 = p['sizes']
        x = d['x'].reshape(p['batch'], d0)
        y = d['y'].long()
        ws = [d['w1'].reshape(d0, d1), d['b1'], d['w2'].reshape(d1, d2), d['b2'], d['w3'].reshape(d2, d3), d['b3']]
        ws = [t.clone().requires_grad_() for t in ws]
        opt = torch.optim.SGD(ws, lr=p['lr'])
        def step():
            opt.zero_grad()
            h1 = torch.relu(x @ ws[0] + ws[1])
            h2 = torch.relu(h1 @ ws[2] + ws[3])
            loss = F.cross_entropy(h2 @ ws[4] + ws[5], y)
            loss.backward()
            opt.step()
            return loss.item()
        return (lambda: [step(), step()]), step
    if w == 'elementwise':
        x = d['x'].clone().requires_grad_()
        a, b = d['a'], d['b']
        def step():
            x.grad = None
            yv = x
            for _ in range(0, p['ops'], 2):
                yv = yv * a + b
            s = yv.sum()
            s.backward()
            return [s.item()] + x.grad.tolist()
        return step, step
    if w == 'transformer':
        B, T, C, H, hidden = p['batch'], p['seq'], p['width'], p['heads'], p['hidden']
        x = d['x'].reshape(B, T, C)
        target = d['target'].reshape(B, T, C)
        shapes = {'ln1w': [C], 'ln1b': [C], 'ln2w': [C], 'ln2b': [C], 'w1': [C, hidden], 'b1': [hidden], 'w2': [hidden, C], 'b2': [C]}
        P = {name: d[name].reshape(shape).clone().requires_grad_() for name, shape in shapes.items()}
        mha = torch.nn.MultiheadAttention(C, H, batch_first=True)
        with torch.no_grad():
            # PyTorch's [out, in] weights: the shared [in, out] data, transposed.
            tr = lambda name: d[name].reshape(C, C).t()
            mha.in_proj_weight.copy_(torch.cat([tr('wq'), tr('wk'), tr('wv')], 0))
            mha.in_proj_bias.copy_(torch.cat([d['bq'], d['bk'], d['bv']]))
            mha.out_proj.weight.copy_(tr('wo'))
            mha.out_proj.bias.copy_(d['bo'])
        opt = torch.optim.SGD(list(mha.parameters()) + list(P.values()), lr=p['lr'])
        def step():
            opt.zero_grad()
            a = F.layer_norm(x, [C], P['ln1w'], P['ln1b'])
            h = x + mha(a, a, a, need_weights=False)[0]
            m = F.gelu(F.layer_norm(h, [C], P['ln2w'], P['ln2b']) @ P['w1'] + P['b1'], approximate='tanh')
            out = h + m @ P['w2'] + P['b2']
            loss = F.mse_loss(out, target)
            loss.backward()
            opt.step()
            return loss.item()
        return (lambda: [step(), step()]), step
    if w == 'conv':
        B, S, (c0, c1, c2), classes = p['batch'], p['size'], p['channels'], p['classes']
        x = d['x'].reshape(B, c0, S, S)
        y = d['y'].long()
        shapes = [('k1', [c1, c0, 3, 3]), ('kb1', [c1]), ('k2', [c2, c1, 3, 3]), ('kb2', [c2]),
                  ('w', [c2 * (S // 4) * (S // 4), classes]), ('b', [classes])]
        P = [d[name].reshape(shape).clone().requires_grad_() for name, shape in shapes]
        opt = torch.optim.SGD(P, lr=p['lr'])
        def step():
            opt.zero_grad()
            h1 = F.max_pool2d(torch.relu(F.conv2d(x, P[0], P[1], padding=1)), 2)
            h2 = F.max_pool2d(torch.relu(F.conv2d(h1, P[2], P[3], padding=1)), 2)
            loss = F.cross_entropy(h2.flatten(1) @ P[4] + P[5], y)
            loss.backward()
            opt.step()
            return loss.item()
        return (lambda: [step(), step()]), step
    return 'not implemented'


def main():
    if os.environ.get('TAPEGRAD_BENCH_THREADS'):
        torch.set_num_threads(int(os.environ['TAPEGRAD_BENCH_THREADS']))
    threads = torch.get_num_threads()
    # Without --threads the BLAS under torch (OpenBLAS) picks its own thread count.
    blas = os.environ.get('OPENBLAS_NUM_THREADS') or 'all cores'
    # Which BLAS libraries torch loaded: Debian's torch calls whatever
    # libblas.so.3 is selected, the reference BLAS (some 20x slower) unless
    # an OpenBLAS package provides it.
    torch.ones(2, 2) @ torch.ones(2, 2)
    with open('/proc/self/maps') as maps:
        libraries = list(dict.fromkeys(l.split()[-1] for l in maps if 'blas' in l.lower() and '/' in l))
    reply({'ready': True, 'version': f'{torch.__version__} ({threads} thread{"" if threads == 1 else "s"}, BLAS on {blas})',
           'blas': libraries})
    step = None
    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        try:
            if msg['cmd'] == 'setup':
                made = setup(msg['cell'], read_data(msg['manifest']))
                if isinstance(made, str):
                    step = None
                    reply({'unsupported': made})
                else:
                    check, step = made
                    reply({'check': [float(v) for v in check()]})
            elif msg['cmd'] == 'time':
                lead_end = time.perf_counter() + (msg.get('leadMs') or 0) / 1000
                while time.perf_counter() < lead_end:
                    step()
                t0 = time.perf_counter()
                for _ in range(msg['iters']):
                    step()
                reply({'ms': (time.perf_counter() - t0) * 1000})
            elif msg['cmd'] == 'exit':
                break
        except Exception as e:  # reported to the runner, which marks the cell
            reply({'error': repr(e)})


if __name__ == '__main__':
    main()
