/**
 * Raw DEFLATE decoder (RFC 1951), for qcow2 compressed clusters. The core cannot use node:zlib, so
 * this is a self-contained table-driven decoder: stored, fixed-Huffman and dynamic-Huffman blocks.
 *
 * Input is untrusted (it comes from an image file): every length, distance and code is checked, the
 * decoder never reads or writes outside its buffers and always terminates (each loop iteration
 * consumes input bits or produces output bytes, both bounded).
 */

export class InflateError extends Error {
  readonly code = 'EINFLATE';
  constructor(message: string) {
    super(message);
    this.name = 'InflateError';
  }
}

const MAX_BITS = 15; // longest code RFC 1951 allows
const FAST_BITS = 9; // codes up to this length decode with one table lookup
const FAST_SIZE = 1 << FAST_BITS;
const FAST_MASK = FAST_SIZE - 1;

// Length codes 257..285: base lengths and extra bits (RFC 1951 §3.2.5).
const LENGTH_BASE = new Uint16Array([
  3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258,
]);
const LENGTH_EXTRA = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]);
// Distance codes 0..29.
const DIST_BASE = new Uint16Array([
  1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
  8193, 12289, 16385, 24577,
]);
const DIST_EXTRA = new Uint8Array([
  0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
]);
// Order in which code-length code lengths are sent (RFC 1951 §3.2.7).
const CLEN_ORDER = new Uint8Array([16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]);

/**
 * A canonical Huffman code: `fast[bits & FAST_MASK]` is (symbol << 4) | length for codes of up to
 * FAST_BITS bits, 0 for longer codes, which decode canonically from `count`/`symbol`.
 */
class Huffman {
  readonly fast = new Uint16Array(FAST_SIZE);
  readonly count = new Uint16Array(MAX_BITS + 1);
  readonly symbol: Uint16Array;
  private readonly offsets = new Uint16Array(MAX_BITS + 2);
  private readonly nextCode = new Uint16Array(MAX_BITS + 2);

  constructor(maxSymbols: number) {
    this.symbol = new Uint16Array(maxSymbols);
  }

  /** Builds the code from `lengths[0..n)`; rejects over-subscribed and (unless allowed) incomplete codes. */
  build(lengths: Uint8Array, n: number, allowIncomplete: boolean): void {
    const { count, symbol, offsets, fast, nextCode } = this;
    count.fill(0);
    for (let i = 0; i < n; i++) count[lengths[i]]++;
    count[0] = 0;
    let left = 1;
    for (let len = 1; len <= MAX_BITS; len++) {
      left = (left << 1) - count[len];
      if (left < 0) throw new InflateError('over-subscribed Huffman code');
    }
    // An incomplete code is only valid for a single-code distance tree (RFC 1951 §3.2.7), or none.
    if (left > 0 && !allowIncomplete) throw new InflateError('incomplete Huffman code');
    offsets[1] = 0;
    for (let len = 1; len <= MAX_BITS; len++) offsets[len + 1] = offsets[len] + count[len];
    for (let i = 0; i < n; i++) if (lengths[i] !== 0) symbol[offsets[lengths[i]]++] = i;
    // Restore offsets (they were advanced while placing symbols).
    offsets[1] = 0;
    for (let len = 1; len <= MAX_BITS; len++) offsets[len + 1] = offsets[len] + count[len];

    // Fast table: canonical codes, bit-reversed because DEFLATE packs Huffman codes MSB first.
    fast.fill(0);
    let code = 0;
    nextCode[0] = 0;
    for (let len = 1; len <= MAX_BITS; len++) {
      code = (code + count[len - 1]) << 1;
      nextCode[len] = code;
    }
    for (let i = 0; i < n; i++) {
      const len = lengths[i];
      if (len === 0 || len > FAST_BITS) continue;
      const c = nextCode[len]++;
      let rev = 0;
      for (let b = 0; b < len; b++) rev |= ((c >>> b) & 1) << (len - 1 - b);
      const entry = (i << 4) | len;
      for (let k = rev; k < FAST_SIZE; k += 1 << len) fast[k] = entry;
    }
  }

  /** Canonical decode of a code longer than FAST_BITS from `bits` (LSB first); returns (sym<<4)|len or -1. */
  decodeSlow(bits: number, available: number): number {
    const { count, symbol } = this;
    let code = 0;
    let first = 0;
    let index = 0;
    for (let len = 1; len <= MAX_BITS && len <= available; len++) {
      code |= (bits >>> (len - 1)) & 1;
      const c = count[len];
      if (code - first < c) return (symbol[index + code - first] << 4) | len;
      index += c;
      first = (first + c) << 1;
      code <<= 1;
    }
    return -1;
  }
}

/** Tables reused between calls (the decoder is synchronous, so one set suffices). */
const litTable = new Huffman(288);
const distTable = new Huffman(32);
const clenTable = new Huffman(19);
const lengths = new Uint8Array(288 + 32);
const fixedLit = new Huffman(288);
const fixedDist = new Huffman(32);
{
  const l = new Uint8Array(288);
  l.fill(8, 0, 144);
  l.fill(9, 144, 256);
  l.fill(7, 256, 280);
  l.fill(8, 280, 288);
  fixedLit.build(l, 288, false);
  const d = new Uint8Array(30).fill(5);
  fixedDist.build(d, 30, true);
}

/**
 * Decodes the raw DEFLATE stream in `input` into `output`. Stops at the end of the final block or as
 * soon as `output` is full (bytes after that are ignored, as qcow2 pads compressed clusters to
 * sectors). Returns the number of bytes produced. Throws InflateError on malformed input.
 */
export function inflateRaw(input: Uint8Array, output: Uint8Array): number {
  const inLen = input.length;
  const outLen = output.length;
  let inPos = 0;
  let outPos = 0;
  let bitBuf = 0; // unconsumed bits, LSB first
  let bitCnt = 0;
  let padBytes = 0; // zero bytes fed past the end of input (an error if any are consumed)

  // Top up bitBuf to at least 24 bits (zero-padded past the end of the input).
  const refill = (): void => {
    while (bitCnt <= 24) {
      if (inPos < inLen) bitBuf |= input[inPos++] << bitCnt;
      else padBytes++;
      bitCnt += 8;
    }
  };
  const overrun = (): boolean => padBytes * 8 > bitCnt;
  const bits = (n: number): number => {
    if (bitCnt < n) refill();
    const v = bitBuf & ((1 << n) - 1);
    bitBuf >>>= n;
    bitCnt -= n;
    return v;
  };
  const decode = (h: Huffman): number => {
    if (bitCnt < MAX_BITS) refill();
    let e = h.fast[bitBuf & FAST_MASK];
    if (e === 0) {
      e = h.decodeSlow(bitBuf, bitCnt);
      if (e < 0) throw new InflateError('invalid Huffman code');
    }
    const len = e & 15;
    bitBuf >>>= len;
    bitCnt -= len;
    if (overrun()) throw new InflateError('compressed data is truncated');
    return e >>> 4;
  };

  let final = 0;
  while (final === 0 && outPos < outLen) {
    final = bits(1);
    const type = bits(2);
    if (type === 0) {
      // Stored block: skip to a byte boundary, then LEN, NLEN and LEN literal bytes.
      bitBuf >>>= bitCnt & 7;
      bitCnt -= bitCnt & 7;
      const len = bits(16);
      const nlen = bits(16);
      if (overrun()) throw new InflateError('compressed data is truncated');
      if ((len ^ 0xffff) !== nlen) throw new InflateError('stored block length check failed');
      // Whole bytes still in bitBuf come first, then straight from input.
      let remaining = len;
      while (remaining > 0 && bitCnt >= 8 && outPos < outLen) {
        if (padBytes > 0 && bitCnt <= padBytes * 8) throw new InflateError('compressed data is truncated');
        output[outPos++] = bitBuf & 0xff;
        bitBuf >>>= 8;
        bitCnt -= 8;
        remaining--;
      }
      if (remaining === 0 || outPos === outLen) continue;
      // bitBuf is empty here (bitCnt < 8 means 0: we only ever hold whole bytes after the alignment).
      bitBuf = 0;
      bitCnt = 0;
      const n = Math.min(remaining, outLen - outPos);
      if (inPos + n > inLen) throw new InflateError('compressed data is truncated');
      output.set(input.subarray(inPos, inPos + n), outPos);
      inPos += n;
      outPos += n;
      continue;
    }
    let lit: Huffman;
    let dist: Huffman;
    if (type === 1) {
      lit = fixedLit;
      dist = fixedDist;
    } else if (type === 2) {
      const hlit = bits(5) + 257;
      const hdist = bits(5) + 1;
      const hclen = bits(4) + 4;
      if (hlit > 286 || hdist > 30) throw new InflateError('too many length or distance codes');
      lengths.fill(0, 0, 19);
      for (let i = 0; i < hclen; i++) lengths[CLEN_ORDER[i]] = bits(3);
      if (overrun()) throw new InflateError('compressed data is truncated');
      clenTable.build(lengths, 19, false);
      const total = hlit + hdist;
      lengths.fill(0, 0, total);
      let i = 0;
      while (i < total) {
        const sym = decode(clenTable);
        if (sym < 16) {
          lengths[i++] = sym;
          continue;
        }
        let repeat: number;
        let value = 0;
        if (sym === 16) {
          if (i === 0) throw new InflateError('repeat with no previous length');
          value = lengths[i - 1];
          repeat = 3 + bits(2);
        } else if (sym === 17) {
          repeat = 3 + bits(3);
        } else {
          repeat = 11 + bits(7);
        }
        if (i + repeat > total) throw new InflateError('too many code lengths');
        lengths.fill(value, i, i + repeat);
        i += repeat;
      }
      if (overrun()) throw new InflateError('compressed data is truncated');
      if (lengths[256] === 0) throw new InflateError('no end-of-block code');
      litTable.build(lengths, hlit, false);
      // Distance code: one used code (or none) may be incomplete (RFC 1951 §3.2.7).
      let used = 0;
      for (let k = 0; k < hdist; k++) if (lengths[hlit + k] !== 0) used++;
      distTable.build(lengths.subarray(hlit, hlit + hdist), hdist, used <= 1);
      lit = litTable;
      dist = distTable;
    } else {
      throw new InflateError('invalid block type 3');
    }

    // Huffman-coded block: literals, and (length, distance) copies from earlier output.
    for (;;) {
      const sym = decode(lit);
      if (sym < 256) {
        if (outPos >= outLen) return outPos;
        output[outPos++] = sym;
        continue;
      }
      if (sym === 256) break;
      const li = sym - 257;
      if (li >= 29) throw new InflateError('invalid length code');
      const len = LENGTH_BASE[li] + bits(LENGTH_EXTRA[li]);
      const di = decode(dist);
      if (di >= 30) throw new InflateError('invalid distance code');
      const d = DIST_BASE[di] + bits(DIST_EXTRA[di]);
      if (overrun()) throw new InflateError('compressed data is truncated');
      if (d > outPos) throw new InflateError('distance points before the start of the output');
      const n = Math.min(len, outLen - outPos);
      let from = outPos - d;
      if (d >= n) {
        output.copyWithin(outPos, from, from + n);
        outPos += n;
      } else {
        for (let k = 0; k < n; k++) output[outPos++] = output[from++];
      }
      if (outPos >= outLen) return outPos;
    }
  }
  return outPos;
}
