/** net: network backends — the NetBackend interface, the L2 switch, socket-link framing. */

export * from './backend.js';
export * from './switch.js';
export * from './link.js';
