/** The block layer's public face: disk image formats, the image tool's operations, host file interface. */
export { BlockError, SECTOR_SIZE, type BlockBackend, type BlockFile } from './backend.js';
export {
  chainStatus,
  DEFAULT_MAX_CHAIN_DEPTH,
  openImage,
  probeFormat,
  type BlockStatus,
  type Image,
  type ImageFormat,
  type ImageInfo,
  type OpenBacking,
  type OpenImageOptions,
  type Qcow2Info,
} from './image.js';
export { createRaw, RawImage } from './raw.js';
export { Qcow2Image } from './qcow2.js';
export { createQcow2, type CreateQcow2Options } from './qcow2-create.js';
export { check, type CheckOptions, type CheckResult } from './qcow2-check.js';
export { commit, convert, isZero, rebase, type Progress, type RebaseOptions } from './tools.js';
export { MemoryBlockFile } from './memory-file.js';
export { inflateRaw, InflateError } from './inflate.js';
export type { SnapshotInfo } from './qcow2-format.js';
export { SwitchableBackend } from './switchable.js';
