'use strict';
// The benchmarks run js-pytorch on its "cpu" device only. The real headless-gl
// compiles against X11 at install time, which CI machines and most servers lack.
module.exports = function createContext() {
  throw new Error('gl: headless WebGL is not installed in this repository (js-pytorch runs on cpu in the benchmarks)');
};
