/**
 * The guest's side of a backend in tests: receives the backend's frames, hands TCP segments to the
 * GuestTcp endpoints they belong to and keeps the rest for the test to inspect. Can drop frames to
 * simulate a NIC whose receive ring overflowed.
 */

import type { NetBackend } from '../../backend.js';
import { GuestTcp, type GuestTcpOptions } from './guest-tcp.js';
import { parseFrame, type ParsedFrame } from './frames.js';

export class GuestSide {
  /** Frames no endpoint took, in arrival order. */
  frames: ParsedFrame[] = [];
  readonly endpoints: GuestTcp[] = [];
  /** Return true to drop a frame before the guest sees it. */
  dropIf: ((f: ParsedFrame) => boolean) | null = null;
  dropped = 0;
  received = 0;

  constructor(readonly backend: NetBackend) {
    backend.setReceiver((raw) => this.onFrame(raw));
  }

  private onFrame(raw: Uint8Array): void {
    this.received++;
    const f = parseFrame(raw);
    if (this.dropIf !== null && this.dropIf(f)) {
      this.dropped++;
      return;
    }
    const ep = this.endpoints.find((e) => e.matches(f));
    if (ep !== undefined) ep.input(f);
    else this.frames.push(f);
  }

  tcp(opts: Omit<GuestTcpOptions, 'send'>): GuestTcp {
    const ep = new GuestTcp({ ...opts, send: (frame) => this.backend.send(frame) });
    this.endpoints.push(ep);
    return ep;
  }

  /** Removes and returns the kept frames that match. */
  take(pred: (f: ParsedFrame) => boolean = () => true): ParsedFrame[] {
    const hit = this.frames.filter(pred);
    this.frames = this.frames.filter((f) => !pred(f));
    return hit;
  }
}
