/**
 * Node's networking and crypto modules, loaded at their first use. A `tsvm run` with neither a
 * network nor a monitor needs none of them, and loading them with the CLI cost 3-6 ms of every
 * start (Node compiles its own modules on first load).
 */
import { createRequire } from 'node:module';
import type * as Crypto from 'node:crypto';
import type * as Dgram from 'node:dgram';
import type * as Dns from 'node:dns';
import type * as Net from 'node:net';

const load = createRequire(import.meta.url);

let netModule: typeof Net | undefined;
let dgramModule: typeof Dgram | undefined;
let dnsModule: typeof Dns | undefined;
let cryptoModule: typeof Crypto | undefined;

export function nodeNet(): typeof Net {
  return (netModule ??= load('node:net') as typeof Net);
}

export function nodeDgram(): typeof Dgram {
  return (dgramModule ??= load('node:dgram') as typeof Dgram);
}

export function nodeDns(): typeof Dns {
  return (dnsModule ??= load('node:dns') as typeof Dns);
}

export function nodeCrypto(): typeof Crypto {
  return (cryptoModule ??= load('node:crypto') as typeof Crypto);
}
