/**
 * Configuration of the user-mode network and its parser for QEMU's `-netdev user,...` syntax:
 *
 *   user[,id=NAME][,net=ADDR[/MASK]][,host=ADDR][,dns=ADDR][,dhcpstart=ADDR][,restrict=on|off]
 *       [,hostname=NAME][,domainname=NAME][,ipv4=on][,ipv6=on|off]
 *       [,hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT]...
 *
 * Defaults are QEMU's: net 10.0.2.0/24, host (gateway) .2, DNS .3, DHCP from .15. An empty HOSTADDR
 * listens on all addresses (as QEMU does); an empty GUESTADDR is the first DHCP address. HOSTPORT 0
 * picks a free port (the backend reports it). `,,` stands for a literal comma inside a value.
 */

import { formatIpv4, parseIpv4, type Ipv4 } from './wire.js';

export type UserNetConfigErrorCode = 'EOPTION' | 'EVALUE' | 'EHOSTFWD' | 'ELISTEN';

export class UserNetConfigError extends Error {
  readonly code: UserNetConfigErrorCode;
  constructor(code: UserNetConfigErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UserNetConfigError';
    this.code = code;
  }
}

export interface HostForward {
  protocol: 'tcp' | 'udp';
  /** Host address to listen on ('0.0.0.0' = all). */
  hostAddress: string;
  /** Host port (0 = any free port). */
  hostPort: number;
  guestAddress: string;
  guestPort: number;
}

export interface UserNetConfig {
  id?: string;
  /** Network address and prefix length of the virtual network. */
  network: string;
  prefixLength: number;
  /** The gateway, which also stands for the host (connections to it reach 127.0.0.1). */
  host: string;
  /** The DNS relay. */
  dns: string;
  /** First address the DHCP server hands out. */
  dhcpStart: string;
  /** No connections to the host's network; only DHCP, ARP, ICMP to the gateway and forwards. */
  restrict: boolean;
  hostname?: string;
  domainName?: string;
  hostForwards: HostForward[];
}

export const DEFAULT_USER_NET_CONFIG: Readonly<UserNetConfig> = Object.freeze({
  network: '10.0.2.0',
  prefixLength: 24,
  host: '10.0.2.2',
  dns: '10.0.2.3',
  dhcpStart: '10.0.2.15',
  restrict: false,
  hostForwards: [],
});

const KNOWN_KEYS = ['id', 'net', 'host', 'dns', 'dhcpstart', 'restrict', 'hostname', 'domainname', 'hostfwd', 'ipv4', 'ipv6'];

/** Splits on commas, `,,` being a literal comma (QEMU's escaping). */
function splitOptions(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === ',') {
      if (text[i + 1] === ',') {
        cur += ',';
        i++;
        continue;
      }
      out.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  out.push(cur);
  return out;
}

function parseBool(key: string, value: string): boolean {
  switch (value) {
    case 'on':
    case 'yes':
    case 'y':
    case 'true':
      return true;
    case 'off':
    case 'no':
    case 'n':
    case 'false':
      return false;
    default:
      throw new UserNetConfigError('EVALUE', `${key}=${value}: expected on or off`);
  }
}

function parseAddress(key: string, value: string): Ipv4 {
  const ip = parseIpv4(value);
  if (ip === null) throw new UserNetConfigError('EVALUE', `${key}=${value}: not an IPv4 address`);
  return ip;
}

function parsePort(what: string, text: string, allowZero: boolean): number {
  if (!/^\d{1,5}$/.test(text)) throw new UserNetConfigError('EHOSTFWD', `${what} '${text}' is not a port number`);
  const n = Number(text);
  if (n > 65535 || (n === 0 && !allowZero)) throw new UserNetConfigError('EHOSTFWD', `${what} ${n} is out of range (${allowZero ? 0 : 1}-65535)`);
  return n;
}

/** Parses one `hostfwd=` value: `[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport`. */
export function parseHostForward(text: string, defaultGuest: string): HostForward {
  const syntax = `hostfwd=${text}: expected [tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport`;
  const dash = text.indexOf('-');
  if (dash < 0) throw new UserNetConfigError('EHOSTFWD', syntax);
  const hostPart = text.slice(0, dash).split(':');
  const guestPart = text.slice(dash + 1).split(':');
  if (hostPart.length !== 3 || guestPart.length !== 2) throw new UserNetConfigError('EHOSTFWD', syntax);
  const [proto, hostAddr, hostPort] = hostPart;
  const [guestAddr, guestPort] = guestPart;
  let protocol: 'tcp' | 'udp';
  if (proto === '' || proto === 'tcp') protocol = 'tcp';
  else if (proto === 'udp') protocol = 'udp';
  else throw new UserNetConfigError('EHOSTFWD', `hostfwd=${text}: protocol '${proto}' is not tcp or udp`);
  const hostAddress = hostAddr === '' ? '0.0.0.0' : hostAddr;
  if (parseIpv4(hostAddress) === null) throw new UserNetConfigError('EHOSTFWD', `hostfwd=${text}: host address '${hostAddr}' is not an IPv4 address`);
  const guestAddress = guestAddr === '' ? defaultGuest : guestAddr;
  if (parseIpv4(guestAddress) === null) throw new UserNetConfigError('EHOSTFWD', `hostfwd=${text}: guest address '${guestAddr}' is not an IPv4 address`);
  return {
    protocol,
    hostAddress,
    hostPort: parsePort(`hostfwd=${text}: host port`, hostPort, true),
    guestAddress,
    guestPort: parsePort(`hostfwd=${text}: guest port`, guestPort, false),
  };
}

/** Parses `user,key=value,...` (the leading `user` is optional) into a checked configuration. */
export function parseUserNetOptions(text: string): UserNetConfig {
  const items = splitOptions(text.trim());
  if (items[0] === 'user') items.shift();
  const config: UserNetConfig = { ...DEFAULT_USER_NET_CONFIG, hostForwards: [] };
  const seen = new Set<string>();
  const forwards: string[] = [];
  let explicitNet = false;
  let host: string | undefined;
  let dns: string | undefined;
  let dhcpStart: string | undefined;
  for (const item of items) {
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq < 0) throw new UserNetConfigError('EOPTION', `'${item}': expected key=value (keys: ${KNOWN_KEYS.join(', ')})`);
    const key = item.slice(0, eq);
    const value = item.slice(eq + 1);
    if (!KNOWN_KEYS.includes(key)) throw new UserNetConfigError('EOPTION', `unknown option '${key}' (known: ${KNOWN_KEYS.join(', ')})`);
    if (key !== 'hostfwd') {
      if (seen.has(key)) throw new UserNetConfigError('EOPTION', `option '${key}' given twice`);
      seen.add(key);
    }
    switch (key) {
      case 'id':
        config.id = value;
        break;
      case 'net': {
        const slash = value.indexOf('/');
        const addrText = slash < 0 ? value : value.slice(0, slash);
        const addr = parseAddress(key, addrText);
        let prefix = 24;
        if (slash >= 0) {
          const maskText = value.slice(slash + 1);
          if (/^\d{1,2}$/.test(maskText)) prefix = Number(maskText);
          else {
            const mask = parseIpv4(maskText);
            if (mask === null) throw new UserNetConfigError('EVALUE', `net=${value}: '${maskText}' is neither a prefix length nor a netmask`);
            prefix = Math.clz32(~mask);
            if (prefix < 32 && ((mask << prefix) | 0) !== 0) throw new UserNetConfigError('EVALUE', `net=${value}: netmask ${maskText} is not contiguous`);
          }
        }
        if (prefix < 8 || prefix > 28) throw new UserNetConfigError('EVALUE', `net=${value}: prefix length ${prefix} is outside 8-28`);
        config.network = formatIpv4(maskAddress(addr, prefix));
        config.prefixLength = prefix;
        explicitNet = true;
        break;
      }
      case 'host':
        host = formatIpv4(parseAddress(key, value));
        break;
      case 'dns':
        dns = formatIpv4(parseAddress(key, value));
        break;
      case 'dhcpstart':
        dhcpStart = formatIpv4(parseAddress(key, value));
        break;
      case 'restrict':
        config.restrict = parseBool(key, value);
        break;
      case 'hostname':
        config.hostname = value;
        break;
      case 'domainname':
        config.domainName = value;
        break;
      case 'ipv4':
        if (!parseBool(key, value)) throw new UserNetConfigError('EVALUE', 'ipv4=off: the user network only does IPv4');
        break;
      case 'ipv6':
        parseBool(key, value); // accepted for QEMU compatibility; IPv6 frames are not routed
        break;
      case 'hostfwd':
        forwards.push(value);
        break;
    }
  }
  if (explicitNet) {
    const net = parseIpv4(config.network) ?? 0;
    config.host = formatIpv4((net + 2) >>> 0);
    config.dns = formatIpv4((net + 3) >>> 0);
    config.dhcpStart = formatIpv4((net + 15) >>> 0);
  }
  if (host !== undefined) config.host = host;
  if (dns !== undefined) config.dns = dns;
  if (dhcpStart !== undefined) config.dhcpStart = dhcpStart;
  config.hostForwards = forwards.map((f) => parseHostForward(f, config.dhcpStart));
  validateUserNetConfig(config);
  return config;
}

export function maskAddress(ip: Ipv4, prefixLength: number): Ipv4 {
  return prefixLength === 0 ? 0 : (ip & (~0 << (32 - prefixLength))) >>> 0;
}

/** Checks a configuration (parsed or built by hand); throws UserNetConfigError. */
export function validateUserNetConfig(config: UserNetConfig): void {
  const net = parseIpv4(config.network);
  if (net === null) throw new UserNetConfigError('EVALUE', `network '${config.network}' is not an IPv4 address`);
  const prefix = config.prefixLength;
  if (!Number.isInteger(prefix) || prefix < 8 || prefix > 28) throw new UserNetConfigError('EVALUE', `prefix length ${prefix} is outside 8-28`);
  if (maskAddress(net, prefix) !== net) throw new UserNetConfigError('EVALUE', `network ${config.network}/${prefix} has host bits set`);
  const broadcast = (net | (~0 >>> prefix)) >>> 0;
  const inNet = (what: string, text: string): Ipv4 => {
    const ip = parseIpv4(text);
    if (ip === null) throw new UserNetConfigError('EVALUE', `${what} '${text}' is not an IPv4 address`);
    if (maskAddress(ip, prefix) !== net || ip === net || ip === broadcast) {
      throw new UserNetConfigError('EVALUE', `${what} ${text} is not a host address of ${config.network}/${prefix}`);
    }
    return ip;
  };
  const host = inNet('host', config.host);
  const dns = inNet('dns', config.dns);
  const start = inNet('dhcpstart', config.dhcpStart);
  if (host === dns) throw new UserNetConfigError('EVALUE', `host and dns are both ${config.host}`);
  if (start === host || start === dns) throw new UserNetConfigError('EVALUE', `dhcpstart ${config.dhcpStart} is the host or dns address`);
  const seen = new Set<string>();
  for (const f of config.hostForwards) {
    const text = `hostfwd=${f.protocol}:${f.hostAddress}:${f.hostPort}-${f.guestAddress}:${f.guestPort}`;
    if (parseIpv4(f.hostAddress) === null) throw new UserNetConfigError('EHOSTFWD', `${text}: host address is not IPv4`);
    const g = parseIpv4(f.guestAddress);
    if (g === null || maskAddress(g, prefix) !== net || g === host || g === dns || g === net || g === broadcast) {
      throw new UserNetConfigError('EHOSTFWD', `${text}: guest address is not a guest address of ${config.network}/${prefix}`);
    }
    if (!Number.isInteger(f.hostPort) || f.hostPort < 0 || f.hostPort > 65535) throw new UserNetConfigError('EHOSTFWD', `${text}: bad host port`);
    if (!Number.isInteger(f.guestPort) || f.guestPort < 1 || f.guestPort > 65535) throw new UserNetConfigError('EHOSTFWD', `${text}: bad guest port`);
    const key = `${f.protocol}:${f.hostAddress}:${f.hostPort}`;
    if (f.hostPort !== 0 && seen.has(key)) throw new UserNetConfigError('EHOSTFWD', `${text}: ${f.protocol} ${f.hostAddress}:${f.hostPort} is forwarded twice`);
    seen.add(key);
  }
}
