/** virtio: the virtio-mmio transport, split virtqueues and the device models. */

export * from './queue.js';
export * from './mmio.js';
export * from './rng.js';
export * from './console.js';
export * from './blk.js';
export * from './net.js';
