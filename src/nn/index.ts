// tg.nn: neural-network building blocks.
export * as functional from './functional.js';
export * as init from './init.js';
export { Module, parameter, buffer } from './module.js';
export type { LoadResult } from './module.js';
export { Sequential, ModuleList, Identity } from './containers.js';
export { Linear } from './layers.js';
export type { LayerOptions } from './layers.js';
