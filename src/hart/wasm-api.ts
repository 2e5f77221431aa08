/**
 * The part of the WebAssembly JavaScript API that tsvm uses, typed here because the core compiles
 * with lib ES2022 and no DOM or Node types (neither of which it may depend on).
 *
 * This is a module rather than an ambient `.d.ts`: with project references, code outside the core
 * (tests, benchmarks, the CLI) sees the core through its emitted declarations, and an ambient
 * declaration file is not emitted, so types that name `WebAssembly.*` would not resolve there.
 * Every host that runs tsvm (Node.js >= 20, browsers) provides the global `WebAssembly`.
 */

export interface WasmMemoryDescriptor {
  /** Initial size in 64 KiB pages. */
  initial: number;
  /** Maximum size in 64 KiB pages. */
  maximum?: number;
}

/** A WebAssembly.Memory. Growing it detaches the previous `buffer`. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  /** Grows by `delta` 64 KiB pages; returns the previous size in pages. Throws RangeError on failure. */
  grow(delta: number): number;
}

export interface WasmTableDescriptor {
  element: 'anyfunc';
  initial: number;
}

/** A WebAssembly.Table of functions. */
export interface WasmTable {
  readonly length: number;
  grow(delta: number): number;
  set(index: number, value: unknown): void;
}

/** A compiled WebAssembly.Module (opaque). */
export interface WasmModule {
  readonly __wasmModule?: never;
}

/** A WebAssembly.Instance: its exports are functions, memories, tables or globals. */
export interface WasmInstance {
  readonly exports: Readonly<Record<string, unknown>>;
}

/** Values importable into an instance: module name -> field name -> value. */
export type WasmImports = Record<string, Record<string, unknown>>;

export interface WasmNamespace {
  Memory: new (descriptor: WasmMemoryDescriptor) => WasmMemory;
  Table: new (descriptor: WasmTableDescriptor) => WasmTable;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: WasmImports) => WasmInstance;
  validate(bytes: Uint8Array): boolean;
  /** Compiles off the calling thread (where the host has compiler threads); settles on a later turn. */
  compile(bytes: Uint8Array): Promise<WasmModule>;
}

/** The host's WebAssembly namespace. */
export const wasmApi: WasmNamespace = (globalThis as unknown as { WebAssembly: WasmNamespace }).WebAssembly;

/** Size of a WebAssembly memory page. */
export const WASM_PAGE_SIZE = 65536;
