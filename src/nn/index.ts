// tg.nn: neural-network building blocks.
export * as functional from './functional.js';
export * as init from './init.js';
export * as utils from './utils.js';
export { Module, parameter, buffer } from './module.js';
export type { LoadResult } from './module.js';
export { Sequential, ModuleList, Identity } from './containers.js';
export {
  Linear, Conv2d, ReLU, GELU, Tanh, Sigmoid, SiLU, LeakyReLU, ELU, Softplus, Softmax, LogSoftmax, Dropout, LayerNorm, Embedding, Flatten, MLP, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, BatchNorm1d, BatchNorm2d,
} from './layers.js';
export type { LayerOptions, Conv2dOptions, LayerNormOptions, BatchNormOptions, EmbeddingOptions, MLPOptions, Activation } from './layers.js';
export { CrossEntropyLoss, NLLLoss, MSELoss, L1Loss, HuberLoss, BCELoss, BCEWithLogitsLoss } from './loss.js';
export { MultiheadAttention, TransformerEncoderLayer } from './attention.js';
export type {
  MultiheadAttentionOptions, MultiheadAttentionForwardOptions, TransformerEncoderLayerOptions,
  TransformerEncoderLayerForwardOptions,
} from './attention.js';
