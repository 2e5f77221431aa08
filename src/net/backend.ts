/**
 * Network backend interface: what a NIC (virtio-net) exchanges Ethernet frames with. Backends:
 * `user` (NAT to the host's network, written here), `switch` (an L2 switch between VMs), socket
 * links between processes. Frames are whole Ethernet frames without FCS.
 */

export interface NetBackend {
  /** A frame from the guest. The backend must not keep a reference to `frame` after returning. */
  send(frame: Uint8Array): void;
  /** Registers the receiver of frames for the guest (one per backend). */
  setReceiver(receive: (frame: Uint8Array) => void): void;
  close(): void;
  /**
   * Optional: the guest's device is about to hand over a burst of frames (a whole transmit queue)
   * with send(), and calls endBurst() after the last. A backend may hold back replies that one
   * frame covers for many (TCP acknowledgements) until endBurst().
   */
  beginBurst?(): void;
  endBurst?(): void;
}

/** Counters every backend keeps (dropped frames are counted, never thrown). */
export interface NetStats {
  framesIn: number;
  framesOut: number;
  dropped: number;
}
