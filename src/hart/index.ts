/** The hart layer's public face: one RISC-V hart and the physical memory it runs on. */
export { Hart, ExitReason, HartStateError, type HartOptions, type HartState } from './hart.js';
export {
  PhysicalMemory, MmioValue, MemoryError, PAGE_SIZE, PAGE_SHIFT, hex,
  type MmioHandler, type RamRegion, type MmioRegion, type WriteWatchCallback,
} from './memory.js';
export { CSR, Cause, Irq, PRIV_U, PRIV_S, PRIV_M } from './csr.js';
export { warmUpHart } from './warmup.js';
