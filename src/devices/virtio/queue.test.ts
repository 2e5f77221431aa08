import { test } from 'node:test';
import assert from 'node:assert/strict';

import { PAGE_CODE, PhysicalMemory } from '../../hart/memory.js';
import { DeviceStateError } from '../device-state.js';
import {
  DescriptorChain,
  Virtqueue,
  VIRTQ_AVAIL_F_NO_INTERRUPT,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  VIRTQ_USED_F_NO_NOTIFY,
} from './queue.js';
import { GuestQueue } from './testing/guest-driver.js';

const RAM = 0x8000_0000;
const DESC = RAM + 0x1000;
const AVAIL = RAM + 0x2000;
const USED = RAM + 0x3000;
const BUF = RAM + 0x1_0000;
const ROM = 0x1000;

interface Setup {
  mem: PhysicalMemory;
  q: Virtqueue;
  d: GuestQueue;
  chain: DescriptorChain;
  errors: string[];
}

function setup(size = 16, opts: { indirect?: boolean; eventIdx?: boolean } = {}): Setup {
  const mem = new PhysicalMemory();
  mem.addRam(RAM, 1 << 20);
  mem.addRam(ROM, 0x1000, { readonly: true });
  const errors: string[] = [];
  const q = new Virtqueue(mem, 0, 256, { deviceError: (m) => errors.push(m) });
  q.size = size;
  [q.descLo, q.descHi] = [DESC >>> 0, 0];
  [q.driverLo, q.driverHi] = [AVAIL >>> 0, 0];
  [q.deviceLo, q.deviceHi] = [USED >>> 0, 0];
  q.indirect = opts.indirect ?? true;
  q.eventIdx = opts.eventIdx ?? false;
  assert.equal(q.enable(), true);
  return { mem, q, d: new GuestQueue(mem, size, { desc: DESC, avail: AVAIL, used: USED }), chain: new DescriptorChain(mem, 2), errors };
}

/** Expects exactly one reported error matching `re`, a stopped queue, and no throw. */
function expectBroken(s: Setup, re: RegExp): void {
  assert.equal(s.q.pop(s.chain), false);
  assert.equal(s.errors.length, 1, `errors: ${s.errors.join('; ')}`);
  assert.match(s.errors[0], re);
  assert.equal(s.q.broken, true);
  assert.equal(s.q.pop(s.chain), false);
  assert.equal(s.q.hasAvailable(), false);
  assert.equal(s.errors.length, 1); // reported once
}

test('a direct chain: segments, reads from the readable part, writes into the writable part', () => {
  const s = setup();
  const { mem, q, d, chain } = s;
  mem.writeBytes(BUF, Uint8Array.from([1, 2, 3, 4, 5]));
  mem.writeBytes(BUF + 0x100, Uint8Array.from([6, 7, 8]));
  d.writeDescriptor(3, BUF, 5, VIRTQ_DESC_F_NEXT, 7);
  d.writeDescriptor(7, BUF + 0x100, 3, VIRTQ_DESC_F_NEXT, 1);
  d.writeDescriptor(1, BUF + 0x1000, 4, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
  d.writeDescriptor(2, BUF + 0x2000, 100, VIRTQ_DESC_F_WRITE);
  assert.equal(q.hasAvailable(), false);
  assert.equal(q.pop(chain), false);
  d.makeAvailable(3);
  assert.equal(q.hasAvailable(), true);
  assert.equal(q.pop(chain), true);
  assert.equal(chain.head, 3);
  assert.equal(chain.count, 4);
  assert.equal(chain.readableLength, 8);
  assert.equal(chain.writableLength, 104);
  assert.deepEqual(Array.from(chain.addr.subarray(0, 4)), [BUF, BUF + 0x100, BUF + 0x1000, BUF + 0x2000]);
  assert.deepEqual(Array.from(chain.writable.subarray(0, 4)), [0, 0, 1, 1]);

  const got = new Uint8Array(6);
  assert.equal(chain.read(got), 6);
  assert.deepEqual([...got], [1, 2, 3, 4, 5, 6]);
  assert.equal(chain.readRemaining, 2);
  assert.equal(chain.read(got, 0, 10), 2);
  assert.deepEqual([...got.subarray(0, 2)], [7, 8]);
  assert.equal(chain.read(got), 0);

  const data = Uint8Array.from({ length: 200 }, (_, i) => i);
  assert.equal(chain.write(data, 0, 6), 6); // spills from the 4-byte into the 100-byte segment
  assert.equal(chain.write(data, 6), 98); // fills the rest
  assert.equal(chain.bytesWritten, 104);
  assert.equal(chain.writeRemaining, 0);
  assert.deepEqual([...mem.readBytes(BUF + 0x1000, 4)], [0, 1, 2, 3]);
  assert.deepEqual([...mem.readBytes(BUF + 0x2000, 3)], [4, 5, 6]);
  assert.equal(mem.readBytes(BUF + 0x2000, 100)[99], 103);

  q.pushUsed(chain.head, chain.bytesWritten);
  assert.equal(d.usedIdx, 1);
  assert.deepEqual(d.usedElem(0), { id: 3, len: 104 });
  assert.equal(q.pop(chain), false);
  assert.deepEqual(s.errors, []);
});

test('device writes mark pages dirty, drop decoded code and run write watches', () => {
  const { mem, q, d, chain } = setup();
  const page = (BUF + 0x3000 - RAM) >>> 12; // arena page of the buffer (RAM is the first region)
  mem.getDirtyLog(mem.ram[0]);
  mem.protectPage(page, PAGE_CODE);
  mem.decodedPages[page] = new Int32Array(4);
  const watched: number[] = [];
  mem.addWriteWatch(BUF + 0x3010, 4, (pa) => watched.push(pa));
  d.writeDescriptor(0, BUF + 0x3000, 0x20, VIRTQ_DESC_F_WRITE);
  d.makeAvailable(0);
  assert.equal(q.pop(chain), true);
  const gen = mem.codeGeneration;
  chain.write(new Uint8Array(0x20).fill(9));
  assert.equal(mem.decodedPages[page], undefined);
  assert.ok(mem.codeGeneration > gen);
  assert.deepEqual(watched, [BUF + 0x3000]);
  q.pushUsed(chain.head, 0x20);
  const log = mem.getDirtyLog(mem.ram[0]);
  assert.equal(log[page], 1);
  assert.equal(log[(USED - RAM) >>> 12], 1); // the used ring's page too
});

test('skipWrite and skipRead move the cursors without copying', () => {
  const { mem, q, d, chain } = setup();
  mem.writeBytes(BUF, Uint8Array.from([1, 2, 3, 4]));
  d.writeDescriptor(0, BUF, 4, VIRTQ_DESC_F_NEXT, 1);
  d.writeDescriptor(1, BUF + 0x100, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
  d.writeDescriptor(2, BUF + 0x200, 1, VIRTQ_DESC_F_WRITE);
  d.makeAvailable(0);
  assert.equal(q.pop(chain), true);
  assert.equal(chain.skipRead(3), 3);
  const one = new Uint8Array(1);
  chain.read(one);
  assert.equal(one[0], 4);
  assert.equal(chain.skipWrite(8), 8); // e.g. a data buffer filled elsewhere
  assert.equal(chain.writeRemaining, 1);
  assert.equal(chain.write(Uint8Array.of(0x5a)), 1); // the status byte
  assert.equal(mem.readBytes(BUF + 0x200, 1)[0], 0x5a);
  assert.equal(chain.bytesWritten, 1);
  assert.equal(chain.skipWrite(1), 0);
});

test('writeWith fills guest RAM in place', () => {
  const { mem, q, d, chain } = setup();
  d.writeDescriptor(0, BUF, 10, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
  d.writeDescriptor(1, BUF + 0x800, 10, VIRTQ_DESC_F_WRITE);
  d.makeAvailable(0);
  assert.equal(q.pop(chain), true);
  let calls = 0;
  assert.equal(chain.writeWith(15, (arena, off, n) => { calls++; arena.fill(0xaa, off, off + n); }), 15);
  assert.equal(calls, 2);
  assert.deepEqual([...mem.readBytes(BUF + 0x800, 6)], [0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0]);
  assert.equal(chain.bytesWritten, 15);
});

test('indirect descriptors, and chains longer than the chain object grow it', () => {
  const s = setup(8);
  const { q, d, chain, mem } = s;
  const table = RAM + 0x4000;
  const n = 100; // longer than the 8-entry queue: allowed inside an indirect table
  for (let i = 0; i < n; i++) d.writeDescriptor(i, BUF + 16 * i, 16, (i < n - 1 ? VIRTQ_DESC_F_NEXT : 0) | (i >= 50 ? VIRTQ_DESC_F_WRITE : 0), i + 1, table);
  d.writeDescriptor(5, table, 16 * n, VIRTQ_DESC_F_INDIRECT);
  mem.writeBytes(BUF, new Uint8Array(800).fill(7));
  d.makeAvailable(5);
  assert.equal(q.pop(chain), true);
  assert.equal(chain.head, 5);
  assert.equal(chain.count, n);
  assert.equal(chain.readableLength, 800);
  assert.equal(chain.writableLength, 800);
  const out = new Uint8Array(800);
  assert.equal(chain.read(out), 800);
  assert.ok(out.every((b) => b === 7));
  // An unaligned indirect table is read correctly too.
  const t2 = RAM + 0x6002;
  d.writeDescriptor(0, BUF, 3, 0, 0, t2);
  d.writeDescriptor(6, t2, 16, VIRTQ_DESC_F_INDIRECT);
  d.makeAvailable(6);
  assert.equal(q.pop(chain), true);
  assert.equal(chain.count, 1);
  assert.equal(chain.length[0], 3);
  assert.deepEqual(s.errors, []);
});

test('zero-length descriptors are accepted without an address check', () => {
  const s = setup();
  s.d.writeDescriptor(0, 0xdead_0000, 0, VIRTQ_DESC_F_NEXT, 1);
  s.d.writeDescriptor(1, BUF, 4, VIRTQ_DESC_F_WRITE);
  s.d.makeAvailable(0);
  assert.equal(s.q.pop(s.chain), true);
  assert.equal(s.chain.count, 2);
  assert.deepEqual(s.errors, []);
});

// ---- malformed input: reported once, the queue stops, nothing throws ----

test('malformed: a chain that loops', () => {
  const s = setup(4);
  s.d.writeDescriptor(0, BUF, 4, VIRTQ_DESC_F_NEXT, 1);
  s.d.writeDescriptor(1, BUF, 4, VIRTQ_DESC_F_NEXT, 0);
  s.d.makeAvailable(0);
  expectBroken(s, /loops/);
});

test('malformed: a self-loop inside an indirect table', () => {
  const s = setup(4);
  const table = RAM + 0x4000;
  s.d.writeDescriptor(0, BUF, 4, VIRTQ_DESC_F_NEXT, 1, table);
  s.d.writeDescriptor(1, BUF, 4, VIRTQ_DESC_F_NEXT, 1, table);
  s.d.writeDescriptor(0, table, 32, VIRTQ_DESC_F_INDIRECT);
  s.d.makeAvailable(0);
  expectBroken(s, /loops/);
});

test('malformed: head index out of range', () => {
  const s = setup(4);
  s.d.makeAvailable(4);
  expectBroken(s, /head descriptor 4/);
});

test('malformed: next index out of range', () => {
  const s = setup(4);
  s.d.writeDescriptor(0, BUF, 4, VIRTQ_DESC_F_NEXT, 9);
  s.d.makeAvailable(0);
  expectBroken(s, /next descriptor 9/);
});

test('malformed: next index out of range in an indirect table', () => {
  const s = setup(4);
  const table = RAM + 0x4000;
  s.d.writeDescriptor(0, BUF, 4, VIRTQ_DESC_F_NEXT, 2, table);
  s.d.writeDescriptor(0, table, 32, VIRTQ_DESC_F_INDIRECT);
  s.d.makeAvailable(0);
  expectBroken(s, /outside a 2-entry indirect table/);
});

test('malformed: an indirect table inside an indirect table', () => {
  const s = setup(4);
  const table = RAM + 0x4000;
  s.d.writeDescriptor(0, RAM + 0x5000, 16, VIRTQ_DESC_F_INDIRECT, 0, table);
  s.d.writeDescriptor(0, table, 16, VIRTQ_DESC_F_INDIRECT);
  s.d.makeAvailable(0);
  expectBroken(s, /inside an indirect table/);
});

test('malformed: indirect without the feature, with NEXT, or with a bad length', () => {
  let s = setup(4, { indirect: false });
  s.d.writeDescriptor(0, RAM + 0x4000, 16, VIRTQ_DESC_F_INDIRECT);
  s.d.makeAvailable(0);
  expectBroken(s, /VIRTIO_F_INDIRECT_DESC/);

  s = setup(4);
  s.d.writeDescriptor(0, RAM + 0x4000, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
  s.d.makeAvailable(0);
  expectBroken(s, /INDIRECT and NEXT/);

  for (const len of [0, 17, 0xffff_fff0]) {
    s = setup(4);
    s.d.writeDescriptor(0, RAM + 0x4000, len, VIRTQ_DESC_F_INDIRECT);
    s.d.makeAvailable(0);
    expectBroken(s, /indirect table of/);
  }

  s = setup(4);
  s.d.writeDescriptor(0, 0x4000_0000, 32, VIRTQ_DESC_F_INDIRECT);
  s.d.makeAvailable(0);
  expectBroken(s, /indirect table is not in RAM/);
});

test('malformed: huge lengths and addresses outside RAM', () => {
  const cases: [number, number, number][] = [
    [BUF, 0xffff_ffff, 0], // runs off the end of RAM
    [RAM + (1 << 20) - 4, 8, 0], // crosses the end of RAM by 4 bytes
    [0x1000_0000, 4, 0], // MMIO, not RAM
    [0, 4, 0], // nothing mapped
    [ROM, 4, VIRTQ_DESC_F_WRITE], // device-writable buffer in ROM
  ];
  for (const [addr, len, flags] of cases) {
    const s = setup(4);
    s.d.writeDescriptor(0, addr, len, flags);
    s.d.makeAvailable(0);
    expectBroken(s, /is not (writable )?RAM/);
  }
  // A readable buffer in ROM is fine.
  const ok = setup(4);
  ok.d.writeDescriptor(0, ROM, 4, 0);
  ok.d.makeAvailable(0);
  assert.equal(ok.q.pop(ok.chain), true);
  // A 64-bit address beyond 2^53.
  const s = setup(4);
  s.mem.writePhys(DESC, 8, 0xffff_ffff_8000_0000n);
  s.mem.writePhys(DESC + 8, 4, 4n);
  s.d.makeAvailable(0);
  expectBroken(s, /is not RAM/);
});

test('malformed: the available index runs more than a ring ahead', () => {
  const s = setup(4);
  s.d.setAvailIdx(5);
  expectBroken(s, /moved 5 entries ahead/);
});

test('malformed ring placement is refused when the queue is enabled', () => {
  const place = (desc: number, avail: number, used: number, size = 16): string[] => {
    const mem = new PhysicalMemory();
    mem.addRam(RAM, 1 << 20);
    mem.addRam(ROM, 0x1000, { readonly: true });
    const errors: string[] = [];
    const q = new Virtqueue(mem, 0, 256, { deviceError: (m) => errors.push(m) });
    q.size = size;
    q.descLo = desc;
    q.driverLo = avail;
    q.deviceLo = used;
    const ok = q.enable();
    assert.equal(ok, errors.length === 0);
    assert.equal(q.pop(new DescriptorChain(mem)), false);
    return errors;
  };
  assert.deepEqual(place(DESC, AVAIL, USED), []);
  assert.equal(place(DESC + 8, AVAIL, USED).length, 1); // descriptor table not 16-aligned
  assert.equal(place(DESC, AVAIL + 1, USED).length, 1);
  assert.equal(place(DESC, AVAIL, USED + 2).length, 1);
  assert.equal(place(DESC, AVAIL, ROM).length, 1); // used ring in ROM
  assert.equal(place(DESC, AVAIL, RAM + (1 << 20) - 8).length, 1); // off the end of RAM
  assert.equal(place(0x1000_0000, AVAIL, USED).length, 1);
  assert.equal(place(DESC, AVAIL, USED, 12).length, 1); // not a power of 2
  assert.equal(place(DESC, AVAIL, USED, 512).length, 1); // above the maximum
  assert.equal(place(DESC, AVAIL, USED, 0).length, 1);
  assert.deepEqual(place(ROM, ROM + 0x800, USED), []); // read-only parts may be in ROM
});

test('no queue error ever throws, whatever the guest writes (random rings)', () => {
  let seed = 12345;
  const rand = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed;
  };
  for (let round = 0; round < 300; round++) {
    const s = setup(8, { eventIdx: (round & 1) === 1 });
    const bytes = new Uint8Array(0x3000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = rand() & 0xff;
    // Point descriptors mostly near RAM so some chains are valid.
    for (let i = 0; i < 8; i++) {
      const at = 16 * i;
      const addr = RAM + (rand() % 0x10_0000);
      bytes[at + 3] = addr >>> 24;
      bytes[at + 2] = (addr >>> 16) & 0xff;
      bytes[at + 4] = bytes[at + 5] = bytes[at + 6] = bytes[at + 7] = 0;
      bytes[at + 9] = bytes[at + 10] = bytes[at + 11] = 0; // len < 256
      bytes[at + 15] = 0;
      bytes[at + 14] &= 15;
    }
    s.mem.writeBytes(DESC, bytes);
    for (let k = 0; k < 10 && s.q.pop(s.chain); k++) {
      s.chain.write(new Uint8Array(64));
      s.q.pushUsed(s.chain.head, s.chain.bytesWritten);
      s.q.shouldInterrupt();
    }
  }
});

// ---- interrupt and notification suppression ----

test('without EVENT_IDX: NO_INTERRUPT suppresses interrupts; NO_NOTIFY is published on request', () => {
  const { q, d, chain } = setup(4);
  d.writeDescriptor(0, BUF, 4, VIRTQ_DESC_F_WRITE);
  assert.equal(q.shouldInterrupt(), false); // nothing used yet
  d.makeAvailable(0);
  q.pop(chain);
  q.pushUsed(0, 4);
  assert.equal(q.shouldInterrupt(), true);
  assert.equal(q.shouldInterrupt(), false); // nothing new since
  d.availFlags = VIRTQ_AVAIL_F_NO_INTERRUPT;
  d.makeAvailable(0);
  q.pop(chain);
  q.pushUsed(0, 4);
  assert.equal(q.shouldInterrupt(), false);
  q.suppressNotifications(true);
  assert.equal(d.usedFlags, VIRTQ_USED_F_NO_NOTIFY);
  q.suppressNotifications(false);
  assert.equal(d.usedFlags, 0);
});

test('EVENT_IDX: interrupts follow used_event; avail_event asks for the next buffer', () => {
  const { q, d, chain } = setup(8, { eventIdx: true });
  for (let i = 0; i < 8; i++) d.writeDescriptor(i, BUF + 64 * i, 64, VIRTQ_DESC_F_WRITE);
  d.availFlags = VIRTQ_AVAIL_F_NO_INTERRUPT; // ignored with EVENT_IDX
  d.usedEvent = 0; // interrupt after the first used entry
  d.makeAvailable(0, 1, 2);
  let n = 0;
  while (q.pop(chain)) {
    q.pushUsed(chain.head, 0);
    n++;
  }
  assert.equal(n, 3);
  assert.equal(d.availEvent, 3); // written when the ring was found empty
  assert.equal(q.shouldInterrupt(), true); // used idx went 0 -> 3, past used_event 0
  d.usedEvent = 5; // not before the 6th entry
  d.makeAvailable(3, 4);
  while (q.pop(chain)) q.pushUsed(chain.head, 0);
  assert.equal(q.usedIdx, 5);
  assert.equal(q.shouldInterrupt(), false);
  d.makeAvailable(5);
  q.pop(chain);
  q.pushUsed(chain.head, 0);
  assert.equal(q.shouldInterrupt(), true); // 5 -> 6 crosses used_event 5
  // Suppressed: avail_event is left alone.
  q.suppressNotifications(true);
  d.makeAvailable(6);
  while (q.pop(chain)) q.pushUsed(chain.head, 0);
  assert.equal(d.availEvent, 5); // last written when the ring was found empty at 5
  q.suppressNotifications(false);
  assert.equal(d.availEvent, 7);
});

test('indices wrap around at 2^16', () => {
  const s = setup(4, { eventIdx: true });
  const { q, d, chain } = s;
  d.writeDescriptor(0, BUF, 4, VIRTQ_DESC_F_WRITE);
  q.lastAvailIdx = 0xfffe;
  q.usedIdx = 0xfffe;
  q.shouldInterrupt(); // the driver has seen everything up to 0xfffe
  d.setAvailIdx(0xfffe);
  d.usedEvent = 0xffff;
  d.makeAvailable(0, 0, 0);
  let n = 0;
  while (q.pop(chain)) {
    q.pushUsed(chain.head, 4);
    n++;
  }
  assert.equal(n, 3);
  assert.equal(q.usedIdx, 1);
  assert.equal(d.usedIdx, 1);
  assert.equal(q.shouldInterrupt(), true);
  assert.deepEqual(s.errors, []);
});

test('unpop returns a chain to the ring', () => {
  const { q, d, chain } = setup(4);
  d.writeDescriptor(2, BUF, 4, 0);
  d.makeAvailable(2);
  assert.equal(q.pop(chain), true);
  q.unpop();
  assert.equal(q.pop(chain), true);
  assert.equal(chain.head, 2);
});

test('queue state round-trips and re-validates the rings', () => {
  const a = setup(8, { eventIdx: true });
  a.d.writeDescriptor(0, BUF, 4, VIRTQ_DESC_F_WRITE);
  a.d.makeAvailable(0, 0);
  a.q.pop(a.chain);
  a.q.pushUsed(0, 4);
  a.q.shouldInterrupt();
  const saved = JSON.parse(JSON.stringify(a.q.saveState())) as unknown;

  const errors: string[] = [];
  const q2 = new Virtqueue(a.mem, 0, 256, { deviceError: (m) => errors.push(m) });
  Virtqueue.validateState('test', 0, 256, saved)(q2);
  q2.eventIdx = true;
  assert.deepEqual(q2.saveState(), a.q.saveState());
  assert.equal(q2.isActive, true);
  assert.equal(q2.pop(a.chain), true); // the second offered chain
  assert.deepEqual(errors, []);

  for (const patch of [{ size: 512 }, { desc: '-1' }, { lastAvailIdx: 65536 }, { ready: 1 }, { extra: 0 }]) {
    assert.throws(() => Virtqueue.validateState('test', 0, 256, { ...(saved as object), ...patch }), DeviceStateError);
  }
  assert.throws(() => Virtqueue.validateState('test', 0, 256, null), DeviceStateError);
});

test('pop and push allocate nothing per descriptor (steady state)', () => {
  const { q, d, chain } = setup(256);
  for (let i = 0; i < 255; i++) d.writeDescriptor(i, BUF + 16 * i, 16, VIRTQ_DESC_F_NEXT, i + 1);
  d.writeDescriptor(255, BUF + 0x1000, 16, VIRTQ_DESC_F_WRITE);
  // Warm up, growing the chain once.
  d.makeAvailable(0);
  q.pop(chain);
  q.pushUsed(0, 0);
  const arrays = chain.addr;
  for (let r = 0; r < 50; r++) {
    d.makeAvailable(0);
    assert.equal(q.pop(chain), true);
    assert.equal(chain.count, 256);
    q.pushUsed(chain.head, 0);
  }
  assert.equal(chain.addr, arrays); // the same typed arrays are reused
});
