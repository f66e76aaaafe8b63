// Convolution: F.unfold (im2col), F.fold (col2im), F.conv2d and nn.Conv2d,
// against PyTorch 1.13. Expected values were computed once with the programs
// in the comments (import torch, torch.nn.functional as F, float64 default)
// where vals(shape, seed) = torch.sin(seed + 0.7 * torch.arange(n)).reshape(shape),
// the same values as vals() below.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectClose, expectError, leaf, runCaseScript, tg, type Tensor } from '../helpers.js';

const F = tg.nn.functional;
const nn = tg.nn;

function vals(shape: number[], seed: number, requiresGrad = false): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tg.tensor(Float64Array.from({ length: n }, (_, i) => Math.sin(seed + 0.7 * i)), { shape, dtype: 'float64', requiresGrad });
}
const arange = (n: number, shape: number[]) => tg.arange(0, n, 1, { dtype: 'float64' }).reshape(shape);
const flat = (t: Tensor) => Array.from(t.data());
/** sum(y · vals(y.shape, seed)): the gradients PyTorch was asked for. */
const weighted = (y: Tensor, seed: number) => y.mul(vals([...y.shape], seed)).sum();

// F.unfold(torch.arange(24.).reshape(1, 2, 3, 4), (2, 2), padding=1, stride=(2, 1))
const UNFOLD_A = {
  shape: [1, 8, 10],
  values: [0, 0, 0, 0, 0, 0, 4, 5, 6, 7, 0, 0, 0, 0, 0, 4, 5, 6, 7, 0, 0, 0, 1, 2, 3, 0, 8, 9, 10, 11, 0, 1, 2, 3, 0, 8, 9, 10, 11, 0, 0, 0, 0, 0, 0, 0, 16, 17, 18, 19, 0, 0, 0, 0, 0, 16, 17, 18, 19, 0, 0, 12, 13, 14, 15, 0, 20, 21, 22, 23, 12, 13, 14, 15, 0, 20, 21, 22, 23, 0],
};
// F.unfold(torch.arange(15.).reshape(1, 3, 5), 2, dilation=(2, 1))  (unbatched)
const UNFOLD_B = {
  shape: [4, 4],
  values: [0, 1, 2, 3, 1, 2, 3, 4, 10, 11, 12, 13, 11, 12, 13, 14],
};
// F.fold(torch.arange(32.).reshape(1, 8, 4), (3, 3), 2)
const FOLD_C = {
  shape: [1, 2, 3, 3],
  values: [0, 5, 5, 10, 30, 20, 10, 25, 15, 16, 37, 21, 42, 94, 52, 26, 57, 31],
};
// F.fold(torch.arange(4. * L).reshape(4, L), (4, 5), 2, dilation=(1, 2), padding=1, stride=2)  (unbatched)
const FOLD_D = {
  L: 9,
  shape: [1, 4, 5],
  values: [0, 46, 0, 48, 0, 0, 16, 0, 18, 0, 0, 52, 0, 54, 0, 0, 22, 0, 24, 0],
};
// y = F.conv2d(x, w, b, stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2) with x = vals([2, 4, 4, 5], 1),
// w = vals([4, 2, 3, 2], 2), b = vals([4], 3); (y * vals(y.shape, 4)).sum().backward()
const CONV_E = {
  shape: [2, 4, 2, 7],
  y: [0.821994599672, -0.133139042752, 0.287749915608, -0.492043027443, -0.974049501452, -0.726861781133, -1.1263884301, -0.772226825452, -1.15292092017, -1.02673645187, -1.1091992891, -0.603617424088, -0.927325843262, -0.197593890931, -1.84685705933, -1.69490128594, -2.00460152618, -1.63022249044, -0.738314560502, -1.06758661442, 0.014950518091, -0.847290784617, 0.0410399136696, -0.394695774846, 0.405326756564, 0.765527564969, 0.662272600577, 0.720569704919, -1.20964934636, -2.19185882983, -1.98346410848, -2.67240416066, -2.55202410317, -2.48845581474, -2.00123860639, -2.25312622976, -1.92374203478, -2.15380006467, -1.56257008341, -0.683992300634, -1.13739825445, -0.264969684467, -1.85924699319, -0.938322343893, -1.28536041396, -0.464115913076, 0.139984442388, -0.24936522437, 0.287374429756, -0.221832321647, 0.316249489807, 0.103059286482, 0.364968130539, 0.0198016486676, 0.272279196429, -0.336151991001, 1.36569520366, 0.628167838416, 0.869623170363, 0.111661499118, -0.63244537507, -0.110760247907, -0.858201134811, -0.156076587087, -0.901137082888, -0.566220016957, -1.09695363166, -1.04540186817, -1.15787004826, -0.803144521724, -1.5258307339, -1.86872098298, -1.8104611754, -1.98129335808, -1.46948253189, -1.76268742567, -0.837705420986, -1.45943950266, -0.653251272713, -1.08794857497, -0.201587883252, 0.530392523868, 0.213143536167, 0.727892111941, -0.327460750322, -1.45075021679, -1.0778029091, -2.18967530016, -2.71926250748, -2.36473414681, -2.44144917375, -2.08096875288, -2.23279393109, -2.22711872825, -2.06786173504, -1.38361038115, -1.78106287987, -0.941339594513, -2.29009982168, -1.68443736959, -1.82900547412, -1.10885515748, -0.302618045284, -0.911975572502, -0.0942672693389, -0.894812281862, -0.0652198200011, -0.455875050593, 0.209209366571, 0.340474238299, 0.360907498578, 0.182136618229],
  dx: [0.416829869022, 0.935125521497, 1.01361702947, 0.615388610284, -0.0722666880328, 1.38756680439, -0.590217253816, -2.29041291515, -2.9133915938, -2.16615668289, -0.862158409605, -0.28064729312, 0.432856630554, 0.942781317307, 1.00930121917, 0.82837435579, 2.17748833307, 2.50249552311, 1.65053996606, 0.0223096725767, -2.36078271071, -1.80611216074, -0.40199884029, 1.19118081615, 2.22412952204, -0.0948312264764, 0.770018160436, 1.27271597463, 1.17683557922, 0.527471022339, -0.439574089919, -1.83046633771, -2.36046166505, -1.78029498808, -0.362827760348, -1.29317755893, -1.64308850165, -1.22022924808, -0.223477112529, 0.87837980097, -1.72191743576, -0.250832960509, 1.33822217544, 2.29789051198, 2.17682503521, 0.809356547003, 1.21887845562, 1.05514278105, 0.395156969497, -0.450677339309, -1.94709031833, -2.38018892404, -1.6938474873, -0.210863110181, 1.37129348248, -1.58177727326, -1.08884003409, -0.0838043132933, 0.960645885526, 1.55328931388, 0.683103492949, -0.745356176765, -1.82326319003, -2.04366103576, -1.30289316328, -0.042741501386, 1.18660177704, 1.85786769855, 1.65534941146, 0.674294430605, 2.06087725315, 1.77212659894, 0.649917115015, -0.777958543341, -1.83994814283, -0.708827153478, -1.40764827494, -1.44443041759, -0.801874364997, 0.217815731086, 0.983469033317, 0.52737580623, -0.176750503001, -0.797748288868, -1.04355258932, -2.46036913148, -2.88886418408, -1.95868127116, -0.107299951176, 1.79454621246, 0.526291113096, 0.983048093322, 0.977462194708, 0.512160552655, -0.194018200041, 2.44857900012, 1.44827081613, -0.233181762539, -1.80496531472, -2.52784547603, -0.165656085038, 1.39040845249, 2.29254216908, 2.1164574816, 0.944969769953, 1.29804529806, 1.11259563605, 0.40387486162, -0.494794570952, -1.16075438543, -2.34453706714, -1.61508717197, -0.126036543393, 1.42229104092, 2.30169292478, -1.10305337399, -0.0582923165164, 1.01388452826, 1.60921563701, 1.44770748698, 1.53065137545, 2.35175963334, 2.06679858842, 0.809789872736, -0.828075673407, 0.985387116002, 0.275437557755, -0.564054587734, -1.13826304702, -1.17712860944, -1.51565807728, 0.0298114230433, 1.56126014529, 2.35842382584, 2.04638392972, 0.0768303022321, 1.08373284286, 1.58093889369, 1.33460467997, 0.46058503149, -1.91548068375, -1.9925918673, -1.13255596055, 0.260138711119, 1.53048608217, 1.88506267692, 1.55441211601, 0.492697248585, -0.800740833458, -1.71757798961, 0.447271993842, -0.968635673656, -1.92897884848, -1.98209312974, -1.10299804103, -1.38973224541, -0.667859002817, 0.368118764385, 1.23096452468, 1.51486843467],
  dw: [2.57113469212, 1.42283124901, -1.76746489097, -2.62920995, 2.536586539, 2.63123104231, 2.01238398479, -1.35703134075, -2.73083157285, -0.837018297278, 2.06365645075, -0.10666782762, -2.02563338466, -2.19008354184, 0.778438170775, 2.93739889366, -1.54191303683, -3.22518044812, -2.50424265128, 0.428454906149, 2.40217197225, 1.74144621246, -2.09019081044, -0.674949507714, -0.474207852921, -2.49951671761, -0.794548364042, 2.17954504524, 0.166645364872, -2.99770444085, -2.77732604949, -1.24329386422, 1.52196758728, 2.99960617066, -1.78030718951, -2.18244486877, -0.458356147358, 2.34397703744, 1.60004288922, -1.59465407049, -1.28040173414, 2.53768692365, 2.29728061472, 2.1110661942, -0.396756624449, -3.16731479983, 0.957346303076, 2.55473247778],
  db: [-0.519748881103, -1.04049036018, 2.45594801508, -3.52966675212],
};
// y = F.conv2d(x, w, padding='same') with x = vals([1, 1, 4, 5], 5), w = vals([2, 1, 2, 4], 6) (even kernel:
// PyTorch pads 0 before and 1 after in H, 1 before and 2 after in W); (y * vals(y.shape, 7)).sum().backward()
const CONV_F = {
  shape: [1, 2, 4, 5],
  y: [-0.530640479941, 2.54583697688, 3.58491139146, 1.62937731311, -0.267476647118, -0.710097666335, -3.27583680201, -3.46386795541, -1.29684606235, 0.396878352993, 1.86059189648, 3.58952158256, 2.90261323, 0.799503021829, -0.475842128285, -1.24212903311, -2.00423610088, -1.60346976925, -0.593930928762, 0.0536652670514, 0.887903318833, 3.24061936166, 2.35112280545, -0.749461467969, -2.29868299565, -1.37676542573, -2.96530748776, -1.41633297855, 1.43183636825, 2.4256521956, 1.69065906068, 2.31314469191, 0.301546172945, -1.93224401635, -2.24435344357, -1.09458925682, -1.29552831819, -0.238563827247, 0.794818990452, 0.918224610759],
  dx: [-0.466558039298, 1.35480474751, 3.50191993604, 3.08631839551, 0.486786574055, 1.30152906965, -2.18266561085, -6.43809207026, -5.70635970505, -0.705538957294, -0.346319222319, 3.20390893493, 6.45492961653, 4.21464701267, -1.05238393484, -0.652903166298, -3.81797828431, -5.65143194053, -2.18730905413, 2.67656290406],
  dw: [-6.50859776133, -4.91958420257, 2.8639700038, 6.81758946371, 3.53731994799, 1.20376375444, -4.17392701163, -6.02601163449, -4.39797856061, -9.55346233554, -7.36553710157, -2.73583385687, 4.85492124034, 7.46294461186, 4.34221236844, 0.519613177667],
};
// F.conv2d(vals([1, 2, 4, 4], 8), vals([2, 1, 2, 3], 9), vals([2], 10), padding='same', dilation=(2, 1), groups=2)
const CONV_G = {
  shape: [1, 2, 4, 4],
  y: [0.194344420494, 1.06247804494, 0.553384382491, -0.414854989236, -2.023008064, -1.91892801538, -1.19299786693, -1.0162092312, 0.955089265315, 0.960800961566, 0.524294297683, 0.319348393295, -1.59438341486, -0.996435898916, -0.320668908798, -0.278189551047, -0.409138952979, 0.0534557621147, -0.211902405092, -1.10095986634, -0.0531134610565, 0.00418011658574, 0.153044935958, 0.310622193283, -1.70599030747, -1.66703927387, -2.06048362743, -2.35404510203, -0.952844563601, -0.0172889518021, 0.984895201329, 0.51526020702],
};
// y = F.conv2d(x, w, padding='valid') with x = vals([2, 3, 3], 11) (unbatched), w = vals([3, 2, 2, 2], 12);
// (y * vals(y.shape, 13)).sum().backward()
const CONV_H = {
  shape: [3, 2, 2],
  y: [-0.317399228021, 0.0856509349384, 0.600287263939, 0.469831923037, 0.185624474973, 0.514694521718, 0.405709977459, 0.0189125205512, 0.605327246033, 0.712708082863, 0.0290223662376, -0.440496111805],
  dx: [0.0927272734098, 0.119083592206, 0.0817494719612, -0.00329423655483, 0.00689545318095, 0.036917530389, 0.101855355433, 0.180594903774, 0.11966783602, 0.0509778662863, 0.102768403608, 0.0687903468733, 0.0552474886266, 0.0894294503361, 0.0271458674161, 0.0547395362681, 0.0597817927427, 0.032150703413],
  dw: [-0.0802566523544, 0.975105918412, 1.42934519943, 0.614586078132, -0.0531932200926, 0.996527976198, 1.41665083968, 0.589462159568, -0.640182795976, -1.51308070241, -1.04815109047, 0.0710127666853, -0.666803843025, -1.52636258507, -1.02522614072, 0.099776745425, 1.28664571732, 1.87621096367, 0.545837548236, -0.74840570862, 1.30974817558, 1.87981787902, 0.515331108366, -0.777485916806],
};

describe('F.unfold', () => {
  it('extracts blocks as PyTorch: padding and stride per dim', () => {
    const u = F.unfold(arange(24, [1, 2, 3, 4]), [2, 2], { padding: 1, stride: [2, 1] });
    expect(u.shape).toEqual(UNFOLD_A.shape);
    expect(flat(u)).toEqual(UNFOLD_A.values);
  });

  it('takes an unbatched [C, H, W] input and a dilation per dim', () => {
    const u = F.unfold(arange(15, [1, 3, 5]), 2, { dilation: [2, 1] });
    expect(u.shape).toEqual(UNFOLD_B.shape);
    expect(flat(u)).toEqual(UNFOLD_B.values);
  });

  it('keeps an empty batch', () => {
    expect(F.unfold(tg.zeros([0, 2, 3, 3]), 2).shape).toEqual([0, 8, 4]);
  });

  it('runs on float32 with the float64 values', () => {
    const u = F.unfold(arange(24, [1, 2, 3, 4]).to('float32'), [2, 2], { padding: 1, stride: [2, 1] });
    expect(u.dtype).toBe('float32');
    expect(flat(u)).toEqual(UNFOLD_A.values);
  });

  const cases: [string, number[], number | [number, number], Record<string, unknown>][] = [
    ['plain', [2, 2, 3, 4], 2, {}],
    ['padding, stride, dilation', [1, 2, 5, 6], [2, 3], { padding: [1, 2], stride: [2, 1], dilation: [2, 1] }],
    ['overlapping blocks with stride > 1', [2, 1, 5, 5], 3, { stride: 2, padding: 1 }],
    ['unbatched', [2, 4, 3], [3, 2], { dilation: [1, 2] }],
  ];
  for (const [name, shape, k, opts] of cases) {
    it(`gradcheck and gradgradcheck in float64: ${name}`, () => {
      tg.tidy(() => {
        const fn = (x: Tensor) => F.unfold(x, k, opts);
        expect(tg.gradcheck(fn, [leaf(shape, 3)])).toBe(true);
        expect(tg.gradgradcheck(fn, [leaf(shape, 3)])).toBe(true);
      });
    });
  }

  it('equals a per-element reference, layouts whose tap rows run on included', () => {
    // At stride 1 with ow = w (2·padW = dilationW·(kw - 1)) each tap's rows
    // inside the image are copied as one run, then the columns outside each
    // row zeroed: rows wholly outside, taps with no column inside, planes
    // of one row or one column, and values that a missed zero would show.
    const cases: [number[], [number, number], [number, number], [number, number], [number, number]][] = [
      // shape, kernel, padding, dilation, stride
      [[2, 3, 5, 6], [3, 3], [1, 1], [1, 1], [1, 1]],
      [[1, 2, 4, 7], [5, 5], [2, 2], [1, 1], [1, 1]],
      [[1, 2, 6, 5], [3, 3], [3, 2], [2, 2], [1, 1]],
      [[1, 1, 1, 6], [3, 3], [1, 1], [1, 1], [1, 1]],
      [[1, 2, 5, 1], [3, 3], [1, 1], [1, 1], [1, 1]],
      [[1, 1, 3, 4], [2, 9], [0, 4], [1, 1], [1, 1]],
      [[1, 1, 3, 4], [1, 3], [0, 3], [1, 3], [1, 1]],
      [[2, 2, 4, 5], [3, 3], [1, 1], [1, 1], [2, 1]],
      [[1, 2, 5, 5], [3, 3], [0, 0], [1, 1], [1, 1]],
      // Strides > 1: each tap reads one phase plane (every s-th row and
      // column from some offset), whose rows run on where it is ow wide.
      [[2, 2, 6, 6], [3, 3], [1, 1], [1, 1], [2, 2]],
      [[1, 2, 7, 7], [3, 3], [1, 1], [1, 1], [2, 2]],
      [[2, 3, 8, 8], [1, 1], [0, 0], [1, 1], [2, 2]],
      [[1, 2, 9, 10], [3, 3], [1, 1], [1, 1], [3, 3]],
      [[1, 1, 10, 12], [3, 3], [2, 2], [2, 2], [2, 2]],
      [[1, 2, 3, 8], [5, 4], [3, 1], [1, 1], [2, 2]],
    ];
    for (const dtype of ['float64', 'float32'] as const)
      for (const [shape, [kh, kw], [ph, pw], [dh, dw], [sh, sw]] of cases) {
        const [n, c, h, w] = shape as [number, number, number, number];
        const values = Array.from({ length: n * c * h * w }, (_, i) => 1 + (i % 13) - 0.25 * (i % 3));
        const x = tg.tensor(values, { shape, dtype });
        const u = F.unfold(x, [kh, kw], { padding: [ph, pw], dilation: [dh, dw], stride: [sh, sw] });
        const oh = Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1, ow = Math.floor((w + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
        const want: number[] = [];
        for (let b = 0; b < n; b++)
          for (let ch = 0; ch < c; ch++)
            for (let i = 0; i < kh; i++)
              for (let j = 0; j < kw; j++)
                for (let oy = 0; oy < oh; oy++)
                  for (let ox = 0; ox < ow; ox++) {
                    const iy = oy * sh - ph + i * dh, ix = ox * sw - pw + j * dw;
                    want.push(iy >= 0 && iy < h && ix >= 0 && ix < w ? values[((b * c + ch) * h + iy) * w + ix]! : 0);
                  }
        expect(u.shape, `${shape} ${dtype}`).toEqual([n, c * kh * kw, oh * ow]);
        expect(flat(u), `${shape} kernel ${[kh, kw]} padding ${[ph, pw]} dilation ${[dh, dw]} ${dtype}`).toEqual(want);
      }
  });

  it('its gradient is fold: each input element gets the sum over the blocks that read it', () => {
    tg.tidy(() => {
      const x = tg.ones([1, 1, 3, 3], { dtype: 'float64', requiresGrad: true });
      F.unfold(x, 2).sum().backward();
      // How many 2×2 blocks cover each position of a 3×3 plane.
      expect(x.grad!.toArray()).toEqual([[[[1, 2, 1], [2, 4, 2], [1, 2, 1]]]]);
    });
  });

  it('refuses bad arguments with a named error', () => {
    tg.tidy(() => {
      const x = tg.zeros([1, 2, 3, 3]);
      expectError(() => F.unfold(tg.zeros([3, 3]), 2), RangeError, /^unfold: input must be 3-D \[C, H, W\] or 4-D \[N, C, H, W\], got shape \[3, 3\]$/);
      expectError(() => F.unfold(tg.zeros([1, 0, 3, 3]), 2), RangeError, /^unfold: input must have non-zero C, H and W \(only N may be 0\), got shape \[1, 0, 3, 3\]$/);
      expectError(() => F.unfold(tg.zeros([1, 2, 3, 3], { dtype: 'int32' }), 2), TypeError, /^unfold: input must be a float32 or float64 tensor, got int32$/);
      expectError(() => F.unfold(x, 0), RangeError, /^unfold: kernelSize must be positive, got \[0, 0\]$/);
      expectError(() => F.unfold(x, [2, -1]), RangeError, /^unfold: kernelSize must be positive, got \[2, -1\]$/);
      expectError(() => F.unfold(x, 2, { dilation: [1, 0] }), RangeError, /^unfold: dilation must be positive, got \[1, 0\]$/);
      expectError(() => F.unfold(x, 2, { padding: -1 }), RangeError, /^unfold: padding must be non-negative, got \[-1, -1\]$/);
      expectError(() => F.unfold(x, 2, { stride: [0, 1] }), RangeError, /^unfold: stride must be positive, got \[0, 1\]$/);
      expectError(() => F.unfold(x, 4), RangeError,
        /^unfold: spatial size \[3, 3\] with kernelSize \[4, 4\], dilation \[1, 1\], padding \[0, 0\] and stride \[1, 1\] gives a grid of 0 × 0 blocks; it must be at least 1 × 1$/);
      expectError(() => F.unfold(x, 2, { dilation: 3 }), RangeError, /^unfold: spatial size \[3, 3\] with kernelSize \[2, 2\], dilation \[3, 3\].* gives a grid of 0 × 0 blocks/);
      expectError(() => F.unfold(x, 1.5), RangeError, /^unfold: kernelSize must be an integer, got 1.5$/);
      expectError(() => F.unfold(x, [2, 2, 2] as never), TypeError, /^unfold: kernelSize must be an integer or a pair of integers \[h, w\], got an array of length 3$/);
      expectError(() => F.unfold(x, '2' as never), TypeError, /^unfold: kernelSize must be an integer or a pair of integers \[h, w\], got '2'$/);
      expectError(() => F.unfold(x, 2, { strides: 2 } as never), TypeError, /^unfold: unknown option 'strides'; the options are dilation, padding, stride$/);
      expectError(() => F.unfold([1, 2] as never, 2), TypeError, /^unfold: input must be a Tensor, got an array$/);
      // Sizes whose products pass int64 (a crash before they were checked).
      expectError(() => F.unfold(x, 2 ** 52, { padding: 2 ** 52 }), RangeError, /^unfold: the output would have too many elements$/);
      expectError(() => F.unfold(x, 1, { padding: [2 ** 31, 2 ** 31] }), RangeError, /^unfold: the output would have too many elements$/);
      expectError(() => F.unfold(x, 3, { dilation: 2 ** 52 }), RangeError, /^unfold: spatial size \[3, 3\] with kernelSize \[3, 3\], dilation \[4503599627370496, 4503599627370496\]/);
    });
  });
});

describe('F.fold', () => {
  it('sums blocks back as PyTorch, overlaps added', () => {
    const f = F.fold(arange(32, [1, 8, 4]), [3, 3], 2);
    expect(f.shape).toEqual(FOLD_C.shape);
    expect(flat(f)).toEqual(FOLD_C.values);
  });

  it('adds each element\'s blocks in kernel-tap order: bit for bit against a tap-by-tap reference', () => {
    // float64 with spikes, where the order of the additions shows; 3×3
    // kernels at column stride 1 add a kernel row's three taps in one pass.
    const cases: [number[], [number, number], [number, number], [number, number], [number, number]][] = [
      // [C, H, W], kernel, padding, dilation, stride
      [[2, 7, 9], [3, 3], [1, 1], [1, 1], [1, 1]],
      [[1, 6, 5], [3, 3], [0, 0], [1, 1], [1, 1]],
      [[2, 9, 4], [3, 3], [2, 2], [1, 1], [2, 1]],
      [[1, 5, 8], [3, 3], [1, 2], [1, 2], [1, 1]],
      [[1, 3, 2], [3, 3], [1, 3], [1, 1], [1, 1]],
      [[2, 6, 8], [2, 3], [0, 2], [1, 2], [1, 1]],
      [[1, 7, 7], [3, 3], [1, 1], [1, 1], [2, 2]],
      [[1, 4, 1], [1, 3], [0, 5], [1, 5], [1, 1]],  // the outer taps reach no column: one on each side of the row
    ];
    for (const [[c, h, w], [kh, kw], [ph, pw], [dh, dw], [sh, sw]] of cases) {
      const oh = Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1, ow = Math.floor((w + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
      const n = c * kh * kw * oh * ow;
      const values = Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) + (i % 7 === 0 ? 1e15 : 0));
      const cols = tg.tensor(values, { shape: [c * kh * kw, oh * ow], dtype: 'float64' });
      const got = F.fold(cols, [h, w], [kh, kw], { padding: [ph, pw], dilation: [dh, dw], stride: [sh, sw] });
      const want = new Float64Array(c * h * w);
      let at = 0;
      for (let ch = 0; ch < c; ch++)
        for (let i = 0; i < kh; i++)
          for (let j = 0; j < kw; j++)
            for (let oy = 0; oy < oh; oy++)
              for (let ox = 0; ox < ow; ox++, at++) {
                const iy = oy * sh - ph + i * dh, ix = ox * sw - pw + j * dw;
                if (iy >= 0 && iy < h && ix >= 0 && ix < w) want[(ch * h + iy) * w + ix] += values[at]!;
              }
      expect(flat(got), `${[c, h, w]} kernel ${[kh, kw]} padding ${[ph, pw]} dilation ${[dh, dw]} stride ${[sh, sw]}`).toEqual(Array.from(want));
    }
  });

  it('takes an unbatched [C·kh·kw, L] input with stride, padding and dilation', () => {
    const f = F.fold(arange(4 * FOLD_D.L, [4, FOLD_D.L]), [4, 5], 2, { dilation: [1, 2], padding: 1, stride: 2 });
    expect(f.shape).toEqual(FOLD_D.shape);
    expect(flat(f)).toEqual(FOLD_D.values);
  });

  it('is the adjoint of unfold: <unfold(x), c> = <x, fold(c)>', () => {
    tg.tidy(() => {
      const opts = { padding: [1, 0] as [number, number], stride: [2, 1] as [number, number], dilation: [1, 2] as [number, number] };
      const x = vals([2, 3, 5, 6], 1);
      const u = F.unfold(x, [3, 2], opts);
      const c = vals([...u.shape], 2);
      const lhs = u.mul(c).sum().item();
      const rhs = x.mul(F.fold(c, [5, 6], [3, 2], opts)).sum().item();
      expect(Math.abs(lhs - rhs)).toBeLessThan(1e-12 * Math.max(1, Math.abs(lhs)));
    });
  });

  const cases: [string, number[], [number, number], number | [number, number], Record<string, unknown>][] = [
    ['plain', [2, 8, 4], [3, 3], 2, {}],
    ['padding, stride, dilation', [1, 12, 9], [4, 5], [2, 3], { padding: 1, stride: [2, 1], dilation: [1, 2] }],
    ['unbatched', [4, 6], [3, 4], 2, { stride: [1, 1] }],
  ];
  for (const [name, shape, out, k, opts] of cases) {
    it(`gradcheck and gradgradcheck in float64: ${name}`, () => {
      tg.tidy(() => {
        const fn = (c: Tensor) => F.fold(c, out, k, opts);
        expect(tg.gradcheck(fn, [leaf(shape, 4)])).toBe(true);
        expect(tg.gradgradcheck(fn, [leaf(shape, 4)])).toBe(true);
      });
    });
  }

  it('refuses bad arguments with a named error', () => {
    tg.tidy(() => {
      const c = tg.zeros([1, 8, 4]);
      expectError(() => F.fold(tg.zeros([8]), 3, 2), RangeError, /^fold: input must be 2-D \[C·kh·kw, L\] or 3-D \[N, C·kh·kw, L\], got shape \[8\]$/);
      expectError(() => F.fold(tg.zeros([0, 4]), 3, 2), RangeError, /^fold: input must have non-zero C·kh·kw and L \(only N may be 0\), got shape \[0, 4\]$/);
      expectError(() => F.fold(tg.zeros([1, 8, 4], { dtype: 'int32' }), 3, 2), TypeError, /^fold: input must be a float32 or float64 tensor, got int32$/);
      expectError(() => F.fold(tg.zeros([1, 6, 4]), 3, 2), RangeError, /^fold: input of shape \[1, 6, 4\]: its C·kh·kw dim \(6\) must be divisible by kernelSize\[0\]·kernelSize\[1\] \(\[2, 2\]\)$/);
      expectError(() => F.fold(c, 4, 2), RangeError,
        /^fold: input of shape \[1, 8, 4\] has L = 4 blocks, but outputSize \[4, 4\] with kernelSize \[2, 2\], dilation \[1, 1\], padding \[0, 0\] and stride \[1, 1\] gives 3 × 3 = 9$/);
      expectError(() => F.fold(c, [0, 3], 2), RangeError, /^fold: outputSize must be positive, got \[0, 3\]$/);
      expectError(() => F.fold(c, 3, 2, { stride: 0 }), RangeError, /^fold: stride must be positive, got \[0, 0\]$/);
      expectError(() => F.fold(c, 3, 2, { padding: [0, -2] }), RangeError, /^fold: padding must be non-negative, got \[0, -2\]$/);
      expectError(() => F.fold(c, 1, 2), RangeError, /^fold: spatial size \[1, 1\] with kernelSize \[2, 2\].* gives a grid of 0 × 0 blocks; it must be at least 1 × 1$/);
      expectError(() => F.fold(c, [2 ** 40, 2 ** 40], 1, { stride: 2 ** 39 }), RangeError, /^fold: shape \[1, 8, 1099511627776, 1099511627776\] has too many elements$/);
      expectError(() => F.fold(c, [3] as never, 2), TypeError, /^fold: outputSize must be an integer or a pair of integers \[h, w\], got an array of length 1$/);
    });
  });
});

describe('F.conv2d', () => {
  it('groups, stride, padding, dilation and bias: values and gradients as PyTorch', () => {
    tg.tidy(() => {
      const x = vals([2, 4, 4, 5], 1, true);
      const w = vals([4, 2, 3, 2], 2, true);
      const b = vals([4], 3, true);
      const y = F.conv2d(x, w, b, { stride: [2, 1], padding: [1, 2], dilation: [1, 2], groups: 2 });
      expect(y.shape).toEqual(CONV_E.shape);
      expectClose(flat(y), CONV_E.y, 1e-10);
      weighted(y, 4).backward();
      expectClose(flat(x.grad!), CONV_E.dx, 1e-10);
      expectClose(flat(w.grad!), CONV_E.dw, 1e-10);
      expectClose(flat(b.grad!), CONV_E.db, 1e-10);
    });
  });

  it("padding 'same' with an even kernel puts the odd row and column after, as PyTorch", () => {
    tg.tidy(() => {
      const x = vals([1, 1, 4, 5], 5, true);
      const w = vals([2, 1, 2, 4], 6, true);
      const y = F.conv2d(x, w, null, { padding: 'same' });
      expect(y.shape).toEqual(CONV_F.shape);
      expectClose(flat(y), CONV_F.y, 1e-10);
      weighted(y, 7).backward();
      expectClose(flat(x.grad!), CONV_F.dx, 1e-10);
      expectClose(flat(w.grad!), CONV_F.dw, 1e-10);
      // Symmetric padding [0, 1] would give another first row: 'same' is not padding 1 cropped.
      const symmetric = F.conv2d(x, w, null, { padding: [0, 1] });
      expect(symmetric.shape).toEqual([1, 2, 3, 4]);
    });
  });

  it("padding 'same' with dilation and groups", () => {
    const y = F.conv2d(vals([1, 2, 4, 4], 8), vals([2, 1, 2, 3], 9), vals([2], 10), { padding: 'same', dilation: [2, 1], groups: 2 });
    expect(y.shape).toEqual(CONV_G.shape);
    expectClose(flat(y), CONV_G.y, 1e-10);
  });

  it("unbatched [C, H, W] input, padding 'valid', no bias", () => {
    tg.tidy(() => {
      const x = vals([2, 3, 3], 11, true);
      const w = vals([3, 2, 2, 2], 12, true);
      const y = F.conv2d(x, w, undefined, { padding: 'valid' });
      expect(y.shape).toEqual(CONV_H.shape);
      expectClose(flat(y), CONV_H.y, 1e-10);
      weighted(y, 13).backward();
      expectClose(flat(x.grad!), CONV_H.dx, 1e-10);
      expectClose(flat(w.grad!), CONV_H.dw, 1e-10);
    });
  });

  it('a hand-computed case: a 2×2 box filter sums each block, plus the bias', () => {
    const x = tg.tensor([[[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]]);
    const y = F.conv2d(x, tg.ones([1, 1, 2, 2]), tg.tensor([0.5]));
    expect(y.toArray()).toEqual([[[[12.5, 16.5], [24.5, 28.5]]]]);
  });

  it('float32 gives the float64 result within float32 rounding', () => {
    tg.tidy(() => {
      const y = F.conv2d(vals([2, 4, 4, 5], 1).to('float32'), vals([4, 2, 3, 2], 2).to('float32'), vals([4], 3).to('float32'),
        { stride: [2, 1], padding: [1, 2], dilation: [1, 2], groups: 2 });
      expect(y.dtype).toBe('float32');
      expectClose(flat(y), CONV_E.y, 1e-5);
    });
  });

  it('keeps an empty batch', () => {
    expect(F.conv2d(tg.zeros([0, 2, 4, 4]), tg.zeros([3, 2, 3, 3])).shape).toEqual([0, 3, 2, 2]);
  });

  it('names an output too large to count in int64', () => {
    expectError(() => F.conv2d(tg.zeros([1, 1, 4, 4]), tg.zeros([1, 1, 3, 3]), null, { padding: 1e9 }), RangeError,
      /^conv2d: the output would have too many elements$/);
  });

  it('keeps its input for backward, not the unfolded columns (9 times as large for 3×3)', () => {
    const x = tg.randn([4, 8, 32, 32]).setRequiresGrad(true), w = tg.randn([8, 8, 3, 3]).setRequiresGrad(true);
    const before = tg.memory().liveBytes;
    const y = F.conv2d(x, w, null, { padding: 1 });
    expect(tg.memory().liveBytes - before).toBe(4 * 8 * 32 * 32 * 4); // y alone
    y.sum().backward();
    expect(w.grad!.shape).toEqual([8, 8, 3, 3]);
    for (const t of [x, w, y]) t.dispose();
  });

  it('runs chunk by chunk as on the whole batch: values and input gradients bit for bit, weight gradients to rounding', () => {
    // One image per chunk (TAPEGRAD_CONV_CHUNK_BYTES=1) against one chunk.
    // On one thread a batch of one chunk splits its images across the pool
    // (each image unfolded and multiplied on its own); on more threads than
    // images (8, the cases have 3-5) the chunk runs as batched matmuls: the
    // same values and gradients, bit for bit.
    const script = path.join(__dirname, 'conv-chunk-cases.cjs');
    const oneThread = { TAPEGRAD_TEST_THREADS: '1' }, manyThreads = { TAPEGRAD_TEST_THREADS: '8' };
    const whole = runCaseScript(script, oneThread), chunked = runCaseScript(script, { ...oneThread, TAPEGRAD_CONV_CHUNK_BYTES: '1' });
    const batched = runCaseScript(script, manyThreads);
    const batchedChunks = runCaseScript(script, { ...manyThreads, TAPEGRAD_CONV_CHUNK_BYTES: '1' });
    expect([whole.chunkBytes, chunked.chunkBytes]).toEqual([null, '1']);
    expect(chunked.results.length).toBe(6);
    whole.results.forEach((r: Record<string, number[] | null>, i: number) => {
      expect(batched.results[i]).toEqual(r);
      const c = batchedChunks.results[i];
      expect(chunked.results[i]).toEqual(c);
      expect(c.y).toEqual(r.y);
      expect(c.dx).toEqual(r.dx);
      expect(c.db).toEqual(r.db);
      if (r.dw === null) expect(c.dw).toBeNull();
      else expectClose(c.dw, r.dw, 1e-12);
    });
    expect(whole.results[2].dw).toBeNull();
    expect(whole.results[3].dx).toBeNull();
  });

  const cases: [string, number[], number[], boolean, Record<string, unknown>][] = [
    ['plain with bias', [2, 2, 4, 4], [3, 2, 2, 2], true, {}],
    ['stride, padding, dilation', [1, 2, 5, 6], [2, 2, 3, 2], true, { stride: [2, 1], padding: [1, 2], dilation: [1, 2] }],
    ['groups 2', [2, 4, 4, 3], [6, 2, 2, 2], true, { groups: 2, padding: 1 }],
    ['depthwise (groups = channels), stride 2', [1, 3, 5, 5], [3, 1, 3, 3], false, { groups: 3, stride: 2, padding: 1 }],
    ["'same', even kernel", [1, 2, 4, 5], [2, 2, 2, 4], true, { padding: 'same' }],
    ['unbatched', [2, 4, 4], [3, 2, 3, 2], true, {}],
  ];
  for (const [name, xs, ws, withBias, opts] of cases) {
    it(`gradcheck and gradgradcheck in float64: ${name}`, () => {
      tg.tidy(() => {
        const inputs = () => [leaf(xs, 5), leaf(ws, 6, 0.5), ...(withBias ? [leaf([ws[0]!], 7)] : [])];
        const fn = (x: Tensor, w: Tensor, b?: Tensor) => F.conv2d(x, w, b, opts);
        expect(tg.gradcheck(fn, inputs())).toBe(true);
        expect(tg.gradgradcheck(fn, inputs())).toBe(true);
      });
    });
  }

  it('refuses bad arguments with a named error', () => {
    tg.tidy(() => {
      const x = tg.zeros([1, 4, 5, 5]);
      const w = tg.zeros([2, 4, 3, 3]);
      expectError(() => F.conv2d(tg.zeros([4, 5]), w), RangeError, /^conv2d: input must be 3-D \[C, H, W\] or 4-D \[N, C, H, W\], got shape \[4, 5\]$/);
      expectError(() => F.conv2d(tg.zeros([1, 4, 0, 5]), w), RangeError, /^conv2d: input must have non-zero C, H and W \(only N may be 0\), got shape \[1, 4, 0, 5\]$/);
      expectError(() => F.conv2d(x, tg.zeros([2, 4, 3])), RangeError, /^conv2d: weight must be 4-D \[outChannels, inChannels \/ groups, kH, kW\], got shape \[2, 4, 3\]$/);
      expectError(() => F.conv2d(x, tg.zeros([0, 4, 3, 3])), RangeError, /^conv2d: weight must have no zero-sized dim, got shape \[0, 4, 3, 3\]$/);
      expectError(() => F.conv2d(x, tg.zeros([2, 3, 3, 3])), RangeError, /^conv2d: input has 4 channels, but weight of shape \[2, 3, 3, 3\] with groups 1 expects 3 × 1 = 3$/);
      expectError(() => F.conv2d(x, tg.zeros([3, 2, 3, 3]), null, { groups: 3 }), RangeError, /^conv2d: input has 4 channels, but weight of shape \[3, 2, 3, 3\] with groups 3 expects 2 × 3 = 6$/);
      expectError(() => F.conv2d(x, tg.zeros([3, 2, 3, 3]), null, { groups: 2 }), RangeError, /^conv2d: weight's outChannels \(3, its dim 0\) must be divisible by groups \(2\)$/);
      expectError(() => F.conv2d(x, w, null, { groups: 0 }), RangeError, /^conv2d: groups must be a positive integer, got 0$/);
      expectError(() => F.conv2d(x, w, tg.zeros([3])), RangeError, /^conv2d: bias must have shape \[2\] \(weight's outChannels\), got \[3\]$/);
      expectError(() => F.conv2d(x, w, tg.zeros([2], { dtype: 'float64' })), TypeError, /^conv2d: bias must have the input's dtype float32, got float64$/);
      expectError(() => F.conv2d(x, tg.zeros([2, 4, 3, 3], { dtype: 'float64' })), TypeError, /^conv2d: weight must have the input's dtype float32, got float64$/);
      expectError(() => F.conv2d(tg.zeros([1, 4, 5, 5], { dtype: 'int32' }), w), TypeError, /^conv2d: input must be a float32 or float64 tensor, got int32$/);
      expectError(() => F.conv2d(x, w, null, { stride: 0 }), RangeError, /^conv2d: stride must be positive, got \[0, 0\]$/);
      expectError(() => F.conv2d(x, w, null, { dilation: 2 ** 53 - 1 }), RangeError,
        /^conv2d: the kernel's extent dilation·\(kernelSize - 1\) \+ 1 is past 2\^53 for kernelSize \[3, 3\] and dilation \[9007199254740991, 9007199254740991\]$/);
      expectError(() => F.conv2d(x, w, null, { dilation: [1, 0] }), RangeError, /^conv2d: dilation must be positive, got \[1, 0\]$/);
      expectError(() => F.conv2d(x, w, null, { padding: [-1, 0] }), RangeError, /^conv2d: padding must be non-negative, got \[-1, 0\]$/);
      expectError(() => F.conv2d(x, w, null, { padding: 'same', stride: 2 }), RangeError, /^conv2d: padding 'same' needs stride 1, got stride \[2, 2\]$/);
      expectError(() => F.conv2d(x, w, null, { padding: 'full' as never }), RangeError, /^conv2d: padding must be 'same' or 'valid', got 'full'$/);
      expectError(() => F.conv2d(x, tg.zeros([2, 4, 6, 3])), RangeError,
        /^conv2d: the padded input of spatial size \[5, 5\] is smaller than the kernel's extent dilation·\(kernelSize - 1\) \+ 1 = \[6, 3\]$/);
      expectError(() => F.conv2d(x, w, null, { dilation: 3 }), RangeError, /^conv2d: the padded input of spatial size \[5, 5\] is smaller than the kernel's extent .* = \[7, 7\]$/);
      expectError(() => F.conv2d(x, w, null, { groups: 1.5 }), RangeError, /^conv2d: groups must be an integer, got 1.5$/);
      expectError(() => F.conv2d(x, tg.zeros([1, 4, 1, 1]), null, { padding: [2 ** 31, 2 ** 31] }), RangeError, /^conv2d: the output would have too many elements$/);
      expectError(() => F.conv2d(x, w, null, { pad: 1 } as never), TypeError, /^conv2d: unknown option 'pad'; the options are stride, padding, dilation, groups$/);
    });
  });
});

describe('nn.Conv2d', () => {
  it('parameters, state dict keys and PyTorch default init U(±1/√fanIn)', () => {
    tg.manualSeed(5);
    const c = new nn.Conv2d(8, 16, 3, { groups: 2 });
    expect(c.namedParameters().map(([n, p]) => [n, [...p.shape]])).toEqual([['weight', [16, 4, 3, 3]], ['bias', [16]]]);
    expect(Object.keys(c.stateDict())).toEqual(['weight', 'bias']);
    const bound = 1 / Math.sqrt(4 * 3 * 3); // fanIn = inChannels / groups · kh · kw
    for (const p of [c.weight, c.bias!]) {
      expect(p.max().item()).toBeLessThanOrEqual(bound);
      expect(p.min().item()).toBeGreaterThanOrEqual(-bound);
    }
    expect(c.weight.max().item()).toBeGreaterThan(0.95 * bound);
    expect(c.weight.min().item()).toBeLessThan(-0.95 * bound);
    expect(Math.abs(c.weight.std().item() - bound / Math.sqrt(3))).toBeLessThan(0.05 * bound);
    expect(c.weight.dtype).toBe('float32');
    expect(new nn.Conv2d(2, 2, [1, 3], { bias: false }).namedParameters().map(([n]) => n)).toEqual(['weight']);
  });

  it('forward is F.conv2d with its options; gradients reach weight and bias', () => {
    tg.tidy(() => {
      const c = new nn.Conv2d(4, 4, [3, 2], { stride: [2, 1], padding: [1, 2], dilation: [1, 2], groups: 2, dtype: 'float64' });
      tg.noGrad(() => {
        c.weight.copyFrom(vals([4, 2, 3, 2], 2));
        c.bias!.copyFrom(vals([4], 3));
      });
      const y = c.forward(vals([2, 4, 4, 5], 1));
      expectClose(flat(y), CONV_E.y, 1e-10);
      weighted(y, 4).backward();
      expectClose(flat(c.weight.grad!), CONV_E.dw, 1e-10);
      expectClose(flat(c.bias!.grad!), CONV_E.db, 1e-10);
      expect(new nn.Conv2d(1, 2, 2, { padding: 'same' }).forward(tg.zeros([1, 3, 4])).shape).toEqual([2, 3, 4]);
    });
  });

  it('prints its options', () => {
    expect(String(new nn.Conv2d(3, 8, 3))).toBe('Conv2d(3, 8, kernelSize=[3, 3], stride=[1, 1])');
    expect(String(new nn.Conv2d(4, 8, [3, 1], { padding: 'same', dilation: 2, groups: 4, bias: false }))).toBe(
      "Conv2d(4, 8, kernelSize=[3, 1], stride=[1, 1], padding='same', dilation=[2, 2], groups=4, bias=false)");
  });

  it('trains in a traced Trainer step as in an untraced one', async () => {
    const losses: number[][] = [];
    for (const traceForward of [false, true]) {
      tg.manualSeed(9);
      const model = new nn.Sequential(new nn.Conv2d(1, 2, 3, { padding: 1 }), new nn.ReLU(), new nn.Flatten(), new nn.Linear(2 * 4 * 4, 3));
      const optimizer = new tg.optim.SGD(model.parameters(), { lr: 0.1 });
      const trainer = new tg.train.Trainer(model, { loss: new nn.CrossEntropyLoss(), optimizer, traceForward });
      const x = vals([4, 1, 4, 4], 2).to('float32');
      const y = tg.tensor([0, 1, 2, 1], { dtype: 'int32' });
      const run: number[] = [];
      for (let i = 0; i < 4; i++) run.push(await trainer.step([x, y]));
      losses.push(run);
    }
    expect(losses[1]).toEqual(losses[0]);
    expect(losses[0]![3]!).toBeLessThan(losses[0]![0]!);
  });

  it('refuses bad arguments with a named error', () => {
    expectError(() => new nn.Conv2d(0, 2, 3), RangeError, /^Conv2d: inChannels must be a positive integer, got 0$/);
    expectError(() => new nn.Conv2d(2, 2, 0), RangeError, /^Conv2d: kernelSize must be a positive integer or a pair of them, got 0$/);
    expectError(() => new nn.Conv2d(2, 2, [3, 3, 3] as never), TypeError, /^Conv2d: kernelSize must be a positive integer or a pair of them, got an array$/);
    expectError(() => new nn.Conv2d(2, 2, 3, { padding: -1 }), RangeError, /^Conv2d: padding must be a non-negative integer or a pair of them, got -1$/);
    expectError(() => new nn.Conv2d(2, 2, 3, { padding: 'full' as never }), RangeError, /^Conv2d: padding must be 'same' or 'valid', got 'full'$/);
    expectError(() => new nn.Conv2d(2, 2, 3, { padding: 'same', stride: 2 }), RangeError, /^Conv2d: padding 'same' needs stride 1, got stride \[2, 2\]$/);
    expectError(() => new nn.Conv2d(3, 4, 3, { groups: 2 }), RangeError, /^Conv2d: inChannels \(3\) must be divisible by groups \(2\)$/);
    expectError(() => new nn.Conv2d(4, 3, 3, { groups: 2 }), RangeError, /^Conv2d: outChannels \(3\) must be divisible by groups \(2\)$/);
    expectError(() => new nn.Conv2d(2, 2, 3, { paddingMode: 'zeros' } as never), TypeError,
      /^Conv2d: unknown option 'paddingMode'; the options are dtype, stride, padding, dilation, groups, bias$/);
  });
});
