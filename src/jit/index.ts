/** The JIT's public face: a hart's WebAssembly translator (enabled with HartOptions.jit). */
export { JitEngine, type JitOptions, type JitStats } from './engine.js';
