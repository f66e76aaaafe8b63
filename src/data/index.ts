// tg.data: datasets and batching for training loops.
export { TensorDataset } from './dataset.js';
export type { Dataset, DatasetSource, ShapedArray } from './dataset.js';
export { DataLoader } from './loader.js';
export type { DataLoaderOptions } from './loader.js';
