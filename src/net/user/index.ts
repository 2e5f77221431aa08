/**
 * The `user` network backend (QEMU-style user-mode NAT): public face of src/net/user/.
 * createUserNet(config, host) gives a NetBackend; parseUserNetOptions parses `user,...` options;
 * the host (sockets, timers, DNS) is injected through UserNetHost.
 */

export { createUserNet, dnsServerFailure, type BoundHostForward, type UserNetBackend, type UserNetStats, type UserNetDropReason } from './user-net.js';
export {
  DEFAULT_USER_NET_CONFIG,
  UserNetConfigError,
  parseHostForward,
  parseUserNetOptions,
  validateUserNetConfig,
  type HostForward,
  type UserNetConfig,
  type UserNetConfigErrorCode,
} from './options.js';
export type {
  HostTcpEvents,
  HostTcpListenEvents,
  HostTcpListener,
  HostTcpPeer,
  HostTcpSocket,
  HostUdpEvents,
  HostUdpSocket,
  UdpBindOptions,
  UserNetHost,
  UserNetTimer,
} from './host.js';
