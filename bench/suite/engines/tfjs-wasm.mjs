// TensorFlow.js with its single-threaded SIMD wasm backend.
import { initBackend } from './tfjs-common.mjs';

export { setup, version } from './tfjs-common.mjs';
export const init = () => initBackend('wasm');
