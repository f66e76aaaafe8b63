// TensorFlow.js with its pure-JavaScript cpu backend.
import { initBackend } from './tfjs-common.mjs';

export { setup, version } from './tfjs-common.mjs';
export const init = () => initBackend('cpu');
