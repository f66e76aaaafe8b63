/**
 * Misuse of tapegrad's state: autograd errors (backward twice through a freed
 * graph, a saved tensor modified in place), disposed tensors, tensors locked
 * by a running async job. Wrong argument types are TypeErrors and values out
 * of range are RangeErrors.
 */
export class TapegradError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TapegradError';
  }
}
