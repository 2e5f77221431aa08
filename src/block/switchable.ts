/**
 * A BlockBackend whose image can be replaced under a running disk device: what makes a snapshot's
 * qcow2 overlay (and a revert's) invisible to the guest. The device keeps talking to one
 * SwitchableBackend; `switchTo` points it at another image of the same size and returns the one it
 * used before. Switching is only allowed while no call is in flight (the caller drains the device
 * first); the backend counts its calls so it can check that itself.
 */

import { BlockError, type BlockBackend } from './backend.js';

export class SwitchableBackend implements BlockBackend {
  /** Fixed at construction: the device read them once. */
  readonly size: number;
  readonly readOnly: boolean;
  private image: BlockBackend;
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  private closed = false;

  constructor(image: BlockBackend) {
    this.image = image;
    this.size = image.size;
    this.readOnly = image.readOnly;
  }

  /** The image I/O goes to now. */
  get current(): BlockBackend {
    return this.image;
  }

  /** Calls started and not settled. */
  get pending(): number {
    return this.inFlight;
  }

  /** Resolves once no call is in flight. */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Sends all later I/O to `next` and returns the previous image (still open: the caller closes it
   * or keeps it). `next` must have the same size and writability, and no call may be in flight.
   */
  switchTo(next: BlockBackend): BlockBackend {
    if (this.closed) throw new BlockError('ECLOSED', 'the disk is closed');
    if (this.inFlight !== 0) throw new BlockError('EBUSY', `the disk has ${this.inFlight} requests in flight; drain it before switching images`);
    if (next.size !== this.size) {
      throw new BlockError('EINVAL', `the new image is ${next.size} bytes, the disk ${this.size}: a running disk cannot change size`);
    }
    if (next.readOnly !== this.readOnly) {
      throw new BlockError('EINVAL', `the new image is ${next.readOnly ? 'read-only' : 'writable'}, the disk is not`);
    }
    const previous = this.image;
    this.image = next;
    return previous;
  }

  read(offset: number, buf: Uint8Array): Promise<void> {
    return this.track(this.image.read(offset, buf));
  }

  write(offset: number, data: Uint8Array): Promise<void> {
    return this.track(this.image.write(offset, data));
  }

  flush(): Promise<void> {
    return this.track(this.image.flush());
  }

  discard(offset: number, length: number): Promise<void> {
    return this.track(this.image.discard(offset, length));
  }

  writeZeroes(offset: number, length: number, unmap: boolean): Promise<void> {
    return this.track(this.image.writeZeroes(offset, length, unmap));
  }

  /** Closes the current image. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.idle();
    await this.image.close();
  }

  private async track(op: Promise<void>): Promise<void> {
    this.inFlight++;
    try {
      await op;
    } finally {
      this.inFlight--;
      if (this.inFlight === 0 && this.idleWaiters.length > 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
    }
  }
}
