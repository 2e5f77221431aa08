/**
 * virtio-rng, the entropy device (virtio 1.2 §5.4): device ID 4, no feature bits, no configuration
 * space, one queue (requestq, index 0). The driver posts device-writable buffers; the device fills
 * them with entropy from an injected source and returns them.
 *
 *   queue 0  requestq  device-writable buffers, filled with random bytes
 *
 * At most VIRTIO_RNG_MAX_REQUEST bytes are returned per buffer (the used length says how many), so
 * a guest posting a huge buffer cannot make the host generate gigabytes at once.
 */

import type { PhysicalMemory } from '../../hart/memory.js';
import { DescriptorChain } from './queue.js';
import { VIRTIO_ID_RNG, type VirtioDevice, type VirtioTransport } from './mmio.js';
import { rejectUnknownFields, stateRecord } from '../device-state.js';

export const VIRTIO_RNG_QUEUE_SIZE = 256;
/** Most bytes returned for one buffer. */
export const VIRTIO_RNG_MAX_REQUEST = 64 * 1024;
/** Entropy is drawn in chunks of this size (Web Crypto's getRandomValues accepts up to 65536). */
const CHUNK = 4096;

export interface VirtioRngState {
  version: 1;
}

export class VirtioRng implements VirtioDevice {
  readonly deviceId = VIRTIO_ID_RNG;
  readonly features = 0n;
  readonly numQueues = 1;
  readonly configSize = 0;
  private readonly entropy: (buf: Uint8Array) => void;
  private transport: VirtioTransport | undefined;
  private readonly chain: DescriptorChain;
  private readonly scratch = new Uint8Array(CHUNK);
  private scratchUsed = CHUNK;

  /**
   * @param memory guest memory (the transport's)
   * @param entropy fills a buffer with random bytes (e.g. crypto.getRandomValues; a seeded PRNG
   *   for deterministic replay)
   */
  constructor(memory: PhysicalMemory, entropy: (buf: Uint8Array) => void) {
    this.entropy = entropy;
    this.chain = new DescriptorChain(memory);
  }

  queueMaxSize(_index: number): number {
    return VIRTIO_RNG_QUEUE_SIZE;
  }

  attach(transport: VirtioTransport): void {
    this.transport = transport;
  }

  readConfig(_offset: number, _size: number): number {
    return 0;
  }

  writeConfig(_offset: number, _size: number, _value: number): void {}

  activate(): void {
    this.queueNotify(0);
  }

  queueNotify(index: number): void {
    const t = this.transport;
    const chain = this.chain;
    if (t === undefined || index !== 0 || !t.driverOk) return;
    const q = t.queues[0];
    let used = false;
    while (q.pop(chain)) {
      let want = Math.min(chain.writableLength, VIRTIO_RNG_MAX_REQUEST);
      while (want > 0) {
        if (this.scratchUsed === CHUNK) {
          this.entropy(this.scratch);
          this.scratchUsed = 0;
        }
        const n = chain.write(this.scratch, this.scratchUsed, Math.min(want, CHUNK - this.scratchUsed));
        if (n === 0) break;
        // Never hand out the same random bytes twice.
        this.scratchUsed += n;
        want -= n;
      }
      q.pushUsed(chain.head, chain.bytesWritten);
      used = true;
    }
    if (used) t.notifyUsed(0);
  }

  reset(): void {}

  saveState(): VirtioRngState {
    return { version: 1 };
  }

  loadState(state: unknown): void {
    const rec = stateRecord('virtio-rng', state, 1);
    rejectUnknownFields('virtio-rng', rec, ['version']);
  }
}
