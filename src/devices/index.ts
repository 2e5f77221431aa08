/** The devices layer: one file per device, each an MmioHandler with injected host interfaces. */

export * from './clint.js';
export * from './uart16550.js';
export * from './sifive-test.js';
export { DeviceStateError } from './device-state.js';
export * from './plic.js';
export * from './goldfish-rtc.js';
export * from './virtio/index.js';
