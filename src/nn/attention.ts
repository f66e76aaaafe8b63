// Attention layers with PyTorch's parameter names and layouts, so that a
// PyTorch state dict loads as is: MultiheadAttention (in_proj_weight,
// in_proj_bias, out_proj.*) and TransformerEncoderLayer (self_attn.*,
// linear1.*, linear2.*, norm1.*, norm2.*).
import { tensor, zeros } from '../creation.js';
import { tidy } from '../memory.js';
import { where } from '../ops.js';
import { checkBoolean, checkChoice, checkNumber, checkOptions, describe } from '../errors.js';
import { Tensor, type DType, isTensor } from '../tensor.js';
import * as F from './functional.js';
import * as init from './init.js';
import { Dropout, LayerNorm, Linear, allocate, layerDtype, layerOptions, positiveInt, probability, type LayerOptions } from './layers.js';
import { Module, parameter } from './module.js';

function shapeStr(t: Tensor): string {
  return `[${t.shape.join(', ')}]`;
}

export interface MultiheadAttentionOptions extends LayerOptions {
  /** Biases on the input and output projections. Default true. */
  bias?: boolean;
  /** Inputs and output are [batch, seq, embed] instead of [seq, batch, embed]. Default false, as PyTorch. */
  batchFirst?: boolean;
  /** Feature size of the keys (default embedDim). */
  kdim?: number;
  /** Feature size of the values (default embedDim). */
  vdim?: number;
  /** Dropout probability on the attention weights in training mode. Default 0. */
  dropout?: number;
}

export interface MultiheadAttentionForwardOptions {
  /**
   * [L, S] or [batch·numHeads, L, S]. As in PyTorch's MultiheadAttention
   * (the opposite of scaledDotProductAttention's boolean masks): an int32
   * mask marks with nonzero the positions that may NOT be attended; a float
   * mask is added to the scores.
   */
  attnMask?: Tensor | null;
  /** [batch, S] (or [S] unbatched): int32 nonzero marks keys to ignore (padding); a float mask is added. */
  keyPaddingMask?: Tensor | null;
  /** Also return the attention weights (default true, as PyTorch); false takes the fused path. */
  needWeights?: boolean;
  /** Return the weights averaged over heads (default true) or per head. */
  averageAttnWeights?: boolean;
  /** Apply a causal mask (query i sees keys j <= i). With attnMask given, attnMask is used as the causal mask. */
  isCausal?: boolean;
}

/**
 * Multi-head attention as torch.nn.MultiheadAttention: project query, key
 * and value, attend per head with scaledDotProductAttention, project back.
 * forward returns [output, weights | null]. Inputs are [seq, batch, embed]
 * (or [batch, seq, embed] with batchFirst, or [seq, embed] unbatched).
 *
 * Parameters carry PyTorch's names: in_proj_weight [3E, E] (or
 * q_proj_weight, k_proj_weight, v_proj_weight when kdim or vdim differ from
 * embedDim), in_proj_bias [3E], out_proj.weight, out_proj.bias.
 */
export class MultiheadAttention extends Module {
  readonly embedDim: number;
  readonly numHeads: number;
  readonly headDim: number;
  readonly kdim: number;
  readonly vdim: number;
  readonly batchFirst: boolean;
  readonly dropout: number;
  // PyTorch's state-dict names.
  in_proj_weight: Tensor | null;
  q_proj_weight: Tensor | null;
  k_proj_weight: Tensor | null;
  v_proj_weight: Tensor | null;
  in_proj_bias: Tensor | null;
  out_proj: Linear;

  constructor(embedDim: number, numHeads: number, options: MultiheadAttentionOptions = {}) {
    super();
    const op = 'MultiheadAttention';
    const o = layerOptions(op, options, ['bias', 'batchFirst', 'kdim', 'vdim', 'dropout']);
    this.embedDim = positiveInt(op, 'embedDim', embedDim);
    this.numHeads = positiveInt(op, 'numHeads', numHeads);
    if (embedDim % numHeads !== 0)
      throw new RangeError(`${op}: embedDim must be divisible by numHeads, got embedDim ${embedDim} and numHeads ${numHeads}`);
    this.headDim = embedDim / numHeads;
    this.kdim = positiveInt(op, 'kdim', o.kdim ?? embedDim);
    this.vdim = positiveInt(op, 'vdim', o.vdim ?? embedDim);
    this.batchFirst = checkBoolean(o.batchFirst, op, 'batchFirst', false);
    this.dropout = probability(op, 'dropout', o.dropout ?? 0);
    const dtype: DType = layerDtype(op, o);
    const bias = checkBoolean(o.bias, op, 'bias', true);
    // Xavier-uniform projections and zero biases, as PyTorch's _reset_parameters.
    const xavier = (name: string, rows: number, cols: number) =>
      allocate(op, name, [rows, cols], dtype, () => parameter(init.xavierUniform(zeros([rows, cols], { dtype }))));
    const packed = this.kdim === embedDim && this.vdim === embedDim;
    this.in_proj_weight = packed ? xavier('in_proj_weight', 3 * embedDim, embedDim) : null;
    this.q_proj_weight = packed ? null : xavier('q_proj_weight', embedDim, embedDim);
    this.k_proj_weight = packed ? null : xavier('k_proj_weight', embedDim, this.kdim);
    this.v_proj_weight = packed ? null : xavier('v_proj_weight', embedDim, this.vdim);
    this.in_proj_bias = bias ? allocate(op, 'in_proj_bias', [3 * embedDim], dtype, () => parameter(zeros([3 * embedDim], { dtype }))) : null;
    this.out_proj = new Linear(embedDim, embedDim, { bias, dtype });
    if (this.out_proj.bias) init.zeros(this.out_proj.bias);
  }

  forward(
    query: Tensor, key: Tensor, value: Tensor, options: MultiheadAttentionForwardOptions = {},
  ): [Tensor, Tensor | null] {
    const op = 'MultiheadAttention';
    const o = checkOptions(options, op, '{ needWeights: false }', [
      'attnMask', 'keyPaddingMask', 'needWeights', 'averageAttnWeights', 'isCausal',
    ]);
    for (const [name, t] of [['query', query], ['key', key], ['value', value]] as const)
      if (!isTensor(t)) throw new TypeError(`${op}: ${name} must be a Tensor, got ${describe(t)}`);
    const batched = query.ndim === 3;
    if (query.ndim !== 2 && query.ndim !== 3)
      throw new RangeError(`${op}: query must be 3-D (batched) or 2-D (unbatched), got shape ${shapeStr(query)}`);
    const E = this.embedDim, H = this.numHeads, D = this.headDim;
    const expect = (name: string, t: Tensor, features: number) => {
      const ok = t.ndim === query.ndim && t.shape[t.ndim - 1] === features &&
        (!batched || t.shape[this.batchFirst ? 0 : 1] === query.shape[this.batchFirst ? 0 : 1]);
      if (!ok) {
        const layout = !batched ? '[seq, features]' : this.batchFirst ? '[batch, seq, features]' : '[seq, batch, features]';
        throw new RangeError(
          `${op}: ${name} must be ${layout} with the query's batch size and ${features} features, got shape ${shapeStr(t)} (query ${shapeStr(query)})`,
        );
      }
    };
    expect('query', query, E);
    expect('key', key, this.kdim);
    expect('value', value, this.vdim);
    if (key.shape[key.ndim - 2 - (batched && !this.batchFirst ? 1 : 0)] !==
      value.shape[value.ndim - 2 - (batched && !this.batchFirst ? 1 : 0)])
      throw new RangeError(`${op}: key and value must have the same sequence length, got shapes ${shapeStr(key)} and ${shapeStr(value)}`);
    const needWeights = checkBoolean(o.needWeights, op, 'needWeights', true);
    const averageAttnWeights = checkBoolean(o.averageAttnWeights, op, 'averageAttnWeights', true);

    return tidy(() => {
      // Everything below works on [N, seq, features]; unbatched inputs get N = 1.
      const toBatchFirst = (t: Tensor) => (!batched ? t.unsqueeze(0) : this.batchFirst ? t : t.transpose(0, 1));
      const [q, k, v] = this.project(toBatchFirst(query), toBatchFirst(key), toBatchFirst(value), query === key && key === value);
      const N = q.shape[0] as number, L = q.shape[1] as number, S = k.shape[1] as number;
      // [N, seq, E] → [N, H, seq, D]: views, read in place by the attention op.
      const heads = (t: Tensor, len: number) => t.reshape(N, len, H, D).permute(0, 2, 1, 3);
      const qh = heads(q, L), kh = heads(k, S), vh = heads(v, S);

      const mask = this.mergeMasks(o, N, L, S, batched, query.dtype);
      const dropoutP = this.training ? this.dropout : 0;
      let out: Tensor;
      let weights: Tensor | null = null;
      if (needWeights || dropoutP > 0) {
        // The weights are needed as a tensor (returned, or dropped out): the unfused form.
        let scores = qh.matmul(kh.transpose(-1, -2)).mul(1 / Math.sqrt(D));
        if (mask.additive) scores = scores.add(mask.additive);
        let p = F.softmax(scores, -1);
        if (dropoutP > 0) p = F.dropout(p, dropoutP, true);
        out = p.matmul(vh);
        if (needWeights) weights = averageAttnWeights ? p.mean(1) : p;
        if (weights && !batched) weights = weights.squeeze(0);
      } else {
        out = F.scaledDotProductAttention(qh, kh, vh, { attnMask: mask.sdpa, isCausal: mask.causal });
      }
      // [N, H, L, D] → [N, L, E], then back to the caller's layout.
      let y = this.out_proj.forward(out.permute(0, 2, 1, 3).reshape(N, L, E));
      y = !batched ? y.squeeze(0) : this.batchFirst ? y : y.transpose(0, 1);
      return [y, weights] as [Tensor, Tensor | null];
    });
  }

  // The input projections on [N, seq, features]: one GEMM for self-attention
  // with the packed weight, else one per input on row blocks of it.
  private project(query: Tensor, key: Tensor, value: Tensor, self: boolean): [Tensor, Tensor, Tensor] {
    const E = this.embedDim;
    const b = this.in_proj_bias;
    const bias = (i: number) => (b ? b.narrow(0, i * E, E) : null);
    if (this.in_proj_weight) {
      const w = this.in_proj_weight;
      if (self) return F.linear(query, w, b).chunk(3, -1) as [Tensor, Tensor, Tensor];
      return [
        F.linear(query, w.narrow(0, 0, E), bias(0)),
        F.linear(key, w.narrow(0, E, E), bias(1)),
        F.linear(value, w.narrow(0, 2 * E, E), bias(2)),
      ];
    }
    return [
      F.linear(query, this.q_proj_weight as Tensor, bias(0)),
      F.linear(key, this.k_proj_weight as Tensor, bias(1)),
      F.linear(value, this.v_proj_weight as Tensor, bias(2)),
    ];
  }

  // attnMask and keyPaddingMask as what the attention needs: for the fused op a
  // boolean keep-mask (int32, nonzero = attend) or an additive float mask, or
  // the causal flag alone; for the unfused path one additive mask.
  private mergeMasks(
    o: MultiheadAttentionForwardOptions, N: number, L: number, S: number, batched: boolean, dtype: DType,
  ): { sdpa: Tensor | null; additive: Tensor | null; causal: boolean } {
    const op = 'MultiheadAttention';
    const H = this.numHeads;
    const check = (name: string, t: unknown) => {
      if (t === undefined || t === null) return null;
      if (!isTensor(t)) throw new TypeError(`${op}: ${name} must be a Tensor, got ${describe(t)}`);
      if (t.dtype !== 'int32' && t.dtype !== dtype)
        throw new TypeError(`${op}: ${name} must be int32 (a boolean mask) or the query's dtype ${dtype}, got ${t.dtype}`);
      return t;
    };
    let attn = check('attnMask', o.attnMask);
    let padding = check('keyPaddingMask', o.keyPaddingMask);
    // Both as [N, H or 1, L or 1, S], broadcastable to the weights [N, H, L, S].
    if (attn) {
      const s = attn.shape.join();
      if (s === [L, S].join()) attn = attn.reshape(1, 1, L, S);
      else if (s === [N * H, L, S].join()) attn = attn.reshape(N, H, L, S);
      else
        throw new RangeError(
          `${op}: attnMask must be [${L}, ${S}] or [${N * H}, ${L}, ${S}] (batch·numHeads, L, S), got shape ${shapeStr(attn)}`,
        );
    }
    if (padding) {
      const want = batched ? [N, S] : [S];
      if (padding.shape.join() !== want.join())
        throw new RangeError(`${op}: keyPaddingMask must be [${want.join(', ')}], got shape ${shapeStr(padding)}`);
      padding = padding.reshape(N, 1, 1, S);
    }
    let causal = checkBoolean(o.isCausal, op, 'isCausal', false);
    // With attnMask given, isCausal only says that it is causal (PyTorch's hint).
    if (causal && attn) causal = false;
    // Combined with padding, the causal mask is needed as a tensor.
    if (causal && padding) {
      attn = causalMask(L, S, dtype).reshape(1, 1, L, S);
      causal = false;
    }
    const toAdditive = (m: Tensor) => (m.dtype === 'int32' ? where(m, -Infinity, 0).to(dtype) : m);
    let additive: Tensor | null = null;
    if (attn && padding) additive = toAdditive(attn).add(toAdditive(padding));
    else if (attn) additive = toAdditive(attn);
    else if (padding) additive = toAdditive(padding);
    else if (causal) additive = causalMask(L, S, dtype); // for the unfused path only
    if (causal) return { sdpa: null, additive, causal };
    // One boolean mask goes to the fused op as a keep-mask, without a float copy.
    const single = attn && !padding ? attn : padding && !attn ? padding : null;
    const sdpa = single && single.dtype === 'int32' ? single.eq(0) : additive;
    return { sdpa, additive, causal };
  }

  protected override extraRepr(): string {
    return `embedDim=${this.embedDim}, numHeads=${this.numHeads}, batchFirst=${this.batchFirst}, dropout=${this.dropout}`;
  }
}

/** An [L, S] float mask: 0 where key j <= query i, -Infinity elsewhere. */
function causalMask(L: number, S: number, dtype: DType): Tensor {
  const data = new Float64Array(L * S);
  for (let i = 0; i < L; i++) for (let j = i + 1; j < S; j++) data[i * S + j] = -Infinity;
  return tensor(data, { shape: [L, S], dtype });
}

export interface TransformerEncoderLayerOptions extends LayerOptions {
  /** Width of the feed-forward block. Default 2048, as PyTorch. */
  dimFeedforward?: number;
  /** Dropout probability (attention weights, residual branches, feed-forward). Default 0.1. */
  dropout?: number;
  /** Feed-forward activation. Default 'relu'. */
  activation?: 'relu' | 'gelu';
  /** Pre-LayerNorm (norm → sublayer → residual add) instead of post-LayerNorm. Default false. */
  normFirst?: boolean;
  /** Inputs are [batch, seq, dModel] instead of [seq, batch, dModel]. Default false. */
  batchFirst?: boolean;
  /** LayerNorm epsilon. Default 1e-5. */
  layerNormEps?: number;
  /** Biases in the linear layers and the LayerNorms. Default true. */
  bias?: boolean;
}

export interface TransformerEncoderLayerForwardOptions {
  /** As MultiheadAttention's attnMask. */
  srcMask?: Tensor | null;
  /** As MultiheadAttention's keyPaddingMask. */
  srcKeyPaddingMask?: Tensor | null;
  /** Causal self-attention (with srcMask given, srcMask is taken as the causal mask). */
  isCausal?: boolean;
}

/**
 * A transformer encoder block as torch.nn.TransformerEncoderLayer:
 * self-attention and a feed-forward block (linear1 → activation → dropout →
 * linear2), each with dropout on its branch and a residual connection, with
 * LayerNorm after (default) or before (normFirst) each. The same parameter
 * names as PyTorch: self_attn.*, linear1.*, linear2.*, norm1.*, norm2.*.
 */
export class TransformerEncoderLayer extends Module {
  readonly dModel: number;
  readonly nhead: number;
  readonly normFirst: boolean;
  readonly activation: 'relu' | 'gelu';
  // PyTorch's state-dict names.
  self_attn: MultiheadAttention;
  linear1: Linear;
  dropout: Dropout;
  linear2: Linear;
  norm1: LayerNorm;
  norm2: LayerNorm;
  dropout1: Dropout;
  dropout2: Dropout;

  constructor(dModel: number, nhead: number, options: TransformerEncoderLayerOptions = {}) {
    super();
    const op = 'TransformerEncoderLayer';
    const o = layerOptions(op, options, ['dimFeedforward', 'dropout', 'activation', 'normFirst', 'batchFirst', 'layerNormEps', 'bias']);
    this.dModel = positiveInt(op, 'dModel', dModel);
    this.nhead = positiveInt(op, 'nhead', nhead);
    const ff = positiveInt(op, 'dimFeedforward', o.dimFeedforward ?? 2048);
    const p = probability(op, 'dropout', o.dropout ?? 0.1);
    this.activation = checkChoice(o.activation ?? 'relu', op, 'activation', ['relu', 'gelu']);
    this.normFirst = checkBoolean(o.normFirst, op, 'normFirst', false);
    const dtype = layerDtype(op, o);
    const bias = checkBoolean(o.bias, op, 'bias', true);
    const eps = checkNumber(o.layerNormEps ?? 1e-5, op, 'layerNormEps', 'a non-negative number', (v) => v >= 0);
    const batchFirst = checkBoolean(o.batchFirst, op, 'batchFirst', false);
    this.self_attn = new MultiheadAttention(dModel, nhead, { dropout: p, bias, batchFirst, dtype });
    this.linear1 = new Linear(dModel, ff, { bias, dtype });
    this.dropout = new Dropout(p);
    this.linear2 = new Linear(ff, dModel, { bias, dtype });
    this.norm1 = new LayerNorm(dModel, { eps, bias, dtype });
    this.norm2 = new LayerNorm(dModel, { eps, bias, dtype });
    this.dropout1 = new Dropout(p);
    this.dropout2 = new Dropout(p);
  }

  forward(src: Tensor, options: TransformerEncoderLayerForwardOptions = {}): Tensor {
    const o = checkOptions(options, 'TransformerEncoderLayer', '{ isCausal: true }', ['srcMask', 'srcKeyPaddingMask', 'isCausal']);
    if (!isTensor(src)) throw new TypeError(`TransformerEncoderLayer: src must be a Tensor, got ${describe(src)}`);
    return tidy(() => {
      const attend = (x: Tensor) =>
        this.dropout1.forward(
          this.self_attn.forward(x, x, x, {
            attnMask: o.srcMask, keyPaddingMask: o.srcKeyPaddingMask, isCausal: o.isCausal, needWeights: false,
          })[0],
        );
      const feedForward = (x: Tensor) => {
        const hidden = this.linear1.forward(x);
        const act = this.activation === 'relu' ? F.relu(hidden) : F.gelu(hidden);
        return this.dropout2.forward(this.linear2.forward(this.dropout.forward(act)));
      };
      let x = src;
      if (this.normFirst) {
        x = x.add(attend(this.norm1.forward(x)));
        x = x.add(feedForward(this.norm2.forward(x)));
      } else {
        x = this.norm1.forward(x.add(attend(x)));
        x = this.norm2.forward(x.add(feedForward(x)));
      }
      return x;
    });
  }

  protected override extraRepr(): string {
    return `dModel=${this.dModel}, nhead=${this.nhead}, activation='${this.activation}', normFirst=${this.normFirst}`;
  }
}
