import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { FdtBuilder, FdtError, FDT_MAGIC } from './fdt.js';
import { buildVirtFdt, buildVirtFdtTree, VIRT_DEFAULT_ISA } from './virt-fdt.js';

const DTC = '/usr/bin/dtc';
const QEMU = '/usr/bin/qemu-system-riscv64';

// ---- an independent DTB reader, to check the builder's output without trusting it ----

interface ParsedFdt {
  header: { totalsize: number; offStruct: number; offStrings: number; offRsv: number; version: number; lastComp: number; bootCpu: number; sizeStrings: number; sizeStruct: number };
  reservations: [bigint, bigint][];
  /** Node path ("/", "/soc/plic@c000000") -> property name -> value, in order. */
  nodes: Map<string, Map<string, Uint8Array>>;
  /** Node paths in document order. */
  order: string[];
}

function parseFdt(blob: Uint8Array): ParsedFdt {
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  assert.equal(dv.getUint32(0), FDT_MAGIC);
  const header = {
    totalsize: dv.getUint32(4),
    offStruct: dv.getUint32(8),
    offStrings: dv.getUint32(12),
    offRsv: dv.getUint32(16),
    version: dv.getUint32(20),
    lastComp: dv.getUint32(24),
    bootCpu: dv.getUint32(28),
    sizeStrings: dv.getUint32(32),
    sizeStruct: dv.getUint32(36),
  };
  assert.ok(header.totalsize <= blob.length); // QEMU dumps its whole buffer
  const reservations: [bigint, bigint][] = [];
  for (let at = header.offRsv; ; at += 16) {
    const a = dv.getBigUint64(at);
    const s = dv.getBigUint64(at + 8);
    if (a === 0n && s === 0n) break;
    reservations.push([a, s]);
  }
  const cstr = (at: number): string => {
    let end = at;
    while (blob[end] !== 0) end++;
    return Buffer.from(blob.subarray(at, end)).toString('utf8');
  };
  const nodes = new Map<string, Map<string, Uint8Array>>();
  const order: string[] = [];
  const stack: string[] = [];
  let at = header.offStruct;
  const end = header.offStruct + header.sizeStruct;
  for (;;) {
    assert.ok(at < end, 'structure block overrun');
    const token = dv.getUint32(at);
    at += 4;
    if (token === 1) {
      const name = cstr(at);
      at += (name.length + 1 + 3) & ~3;
      const parent = stack.length === 0 ? '' : stack[stack.length - 1];
      const path = stack.length === 0 ? '/' : parent === '/' ? `/${name}` : `${parent}/${name}`;
      stack.push(path);
      assert.equal(nodes.has(path), false, `duplicate node ${path}`);
      nodes.set(path, new Map());
      order.push(path);
    } else if (token === 3) {
      const len = dv.getUint32(at);
      const nameoff = dv.getUint32(at + 4);
      at += 8;
      const name = cstr(header.offStrings + nameoff);
      nodes.get(stack[stack.length - 1])!.set(name, blob.slice(at, at + len));
      at += (len + 3) & ~3;
    } else if (token === 2) {
      stack.pop();
    } else if (token === 4) {
      // NOP
    } else if (token === 9) {
      break;
    } else {
      assert.fail(`bad token ${token}`);
    }
  }
  assert.equal(stack.length, 0);
  assert.equal(at, end, 'FDT_END is the last token of the structure block');
  return { header, reservations, nodes, order };
}

function u32s(v: Uint8Array): number[] {
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  return Array.from({ length: v.length / 4 }, (_, i) => dv.getUint32(i * 4));
}

function str(v: Uint8Array): string[] {
  return Buffer.from(v).toString('utf8').split('\0').slice(0, -1);
}

function num(v: Uint8Array): bigint {
  let n = 0n;
  for (const b of v) n = (n << 8n) | BigInt(b);
  return n;
}

/** Decompiles with dtc; returns the source and stderr, or undefined when dtc is missing. */
function dtc(blob: Uint8Array): { dts: string; stderr: string; status: number | null } | undefined {
  if (!existsSync(DTC)) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'tsvm-fdt-'));
  try {
    const file = join(dir, 't.dtb');
    writeFileSync(file, blob);
    const r = spawnSync(DTC, ['-I', 'dtb', '-O', 'dts', file], { encoding: 'utf8' });
    return { dts: r.stdout, stderr: r.stderr, status: r.status };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- the builder ----

test('builder: every property kind round-trips through an independent reader', () => {
  const fdt = new FdtBuilder();
  fdt.bootCpuId = 1;
  fdt.addReservation(0x8000_0000, 0x20_0000);
  fdt.addReservation(0x1_0000_0000n, 0x1000n);
  const root = fdt.root;
  root.setU32('#address-cells', 2).setU32('#size-cells', 2);
  root.setString('model', 'tsvm test');
  const a = root.addNode('alpha@1000');
  const ph = fdt.allocatePhandle();
  a.setPhandle(ph);
  a.setU32Array('reg', [0, 0x1000, 0, 0x100]);
  a.setU64('big', 0x1234_5678_9abc_def0n);
  a.setU64('small', 42);
  a.setStringList('compatible', ['vendor,one', 'vendor,two']);
  a.setEmpty('dma-coherent');
  a.setBytes('blob', Uint8Array.of(1, 2, 3)); // unaligned length: next token must be padded
  a.setString('odd', 'x');
  const b = root.addNode('beta');
  b.setU32('ref', ph);
  b.setString('model', 'again'); // "model" shares its string-table entry
  b.addNode('child').setString('utf', 'h\u00e9\u20ac');
  a.setU32('small2', 7);
  a.setU64('small', 43); // replaces in place

  const blob = fdt.build();
  const p = parseFdt(blob);
  assert.equal(p.header.totalsize, blob.length);
  assert.equal(p.header.version, 17);
  assert.equal(p.header.lastComp, 16);
  assert.equal(p.header.bootCpu, 1);
  assert.equal(p.header.offRsv % 8, 0);
  assert.equal(p.header.offStruct % 4, 0);
  assert.deepEqual(p.reservations, [
    [0x8000_0000n, 0x20_0000n],
    [0x1_0000_0000n, 0x1000n],
  ]);
  assert.deepEqual(p.order, ['/', '/alpha@1000', '/beta', '/beta/child']);
  const alpha = p.nodes.get('/alpha@1000')!;
  assert.deepEqual([...alpha.keys()], ['phandle', 'reg', 'big', 'small', 'compatible', 'dma-coherent', 'blob', 'odd', 'small2']);
  assert.deepEqual(u32s(alpha.get('phandle')!), [1]);
  assert.deepEqual(u32s(alpha.get('reg')!), [0, 0x1000, 0, 0x100]);
  assert.equal(num(alpha.get('big')!), 0x1234_5678_9abc_def0n);
  assert.equal(num(alpha.get('small')!), 43n);
  assert.equal(alpha.get('small')!.length, 8);
  assert.deepEqual(str(alpha.get('compatible')!), ['vendor,one', 'vendor,two']);
  assert.equal(alpha.get('dma-coherent')!.length, 0);
  assert.deepEqual([...alpha.get('blob')!], [1, 2, 3]);
  assert.deepEqual(u32s(p.nodes.get('/beta')!.get('ref')!), [1]);
  assert.deepEqual(str(p.nodes.get('/beta/child')!.get('utf')!), ['h\u00e9\u20ac']);

  // String table: each name exactly once.
  const strings = Buffer.from(blob.subarray(p.header.offStrings, p.header.offStrings + p.header.sizeStrings)).toString('latin1');
  const names = strings.split('\0').slice(0, -1);
  assert.equal(new Set(names).size, names.length);
  assert.equal(names.filter((n) => n === 'model').length, 1);

  const d = dtc(blob);
  if (d === undefined) {
    console.log('dtc not installed (/usr/bin/dtc, Debian device-tree-compiler): skipping decompilation');
    return;
  }
  assert.equal(d.status, 0, d.stderr);
  assert.equal(d.stderr, '');
  assert.match(d.dts, /\/memreserve\/\s+0x0*80000000 0x0*200000;/);
  assert.match(d.dts, /\/memreserve\/\s+0x0*100000000 0x0*1000;/);
  assert.match(d.dts, /alpha@1000 \{/);
  assert.match(d.dts, /compatible = "vendor,one\\0vendor,two";/);
  assert.match(d.dts, /big = <0x12345678 0x9abcdef0>;/);
  assert.match(d.dts, /dma-coherent;/);
  assert.match(d.dts, /blob = \[01 02 03\];/);
  assert.match(d.dts, /ref = <0x01>;/);
});

test('builder: an empty tree is a valid blob', () => {
  const blob = new FdtBuilder().build();
  const p = parseFdt(blob);
  assert.deepEqual(p.order, ['/']);
  assert.equal(blob.length, 40 + 16 + 16 + 0); // header, rsv terminator, BEGIN_NODE "" END_NODE END
  const d = dtc(blob);
  if (d !== undefined) assert.equal(d.status, 0, d.stderr);
});

test('builder: invalid names and values are refused', () => {
  const fdt = new FdtBuilder();
  assert.throws(() => fdt.root.addNode('bad name'), FdtError);
  assert.throws(() => fdt.root.addNode(''), FdtError);
  fdt.root.addNode('x');
  assert.throws(() => fdt.root.addNode('x'), (e: unknown) => e instanceof FdtError && e.code === 'EEXIST');
  assert.throws(() => fdt.root.setU32('p', -1), FdtError);
  assert.throws(() => fdt.root.setU32('p', 2 ** 32), FdtError);
  assert.throws(() => fdt.root.setU64('p', 2 ** 60), FdtError); // not a safe integer
  assert.throws(() => fdt.root.setU64('p', 1n << 64n), FdtError);
  assert.throws(() => fdt.root.setString('p', 'a\0b'), FdtError);
  assert.throws(() => fdt.root.setEmpty('this-property-name-is-much-too-long'), FdtError);
  assert.equal(fdt.node('/x')?.name, 'x');
  assert.equal(fdt.node('/y'), undefined);
});

// ---- the virt board ----

test('virt: expected nodes and values', () => {
  const blob = buildVirtFdt({
    memoryBase: 0x8000_0000,
    memorySize: 256 << 20,
    harts: 2,
    bootargs: 'console=ttyS0',
    initrd: { start: 0x8820_0000, end: 0x8830_0000 },
    virtio: [{ slot: 0 }, { slot: 3 }],
    rngSeed: Uint8Array.of(1, 2, 3, 4),
  });
  const p = parseFdt(blob);
  const n = (path: string): Map<string, Uint8Array> => {
    const node = p.nodes.get(path);
    assert.ok(node, `missing node ${path}`);
    return node;
  };
  assert.deepEqual(str(n('/').get('compatible')!), ['riscv-virtio']);
  assert.deepEqual(str(n('/chosen').get('bootargs')!), ['console=ttyS0']);
  assert.deepEqual(str(n('/chosen').get('stdout-path')!), ['/soc/serial@10000000']);
  assert.equal(num(n('/chosen').get('linux,initrd-start')!), 0x8820_0000n);
  assert.equal(n('/chosen').get('linux,initrd-start')!.length, 8);
  assert.equal(num(n('/chosen').get('linux,initrd-end')!), 0x8830_0000n);
  assert.deepEqual([...n('/chosen').get('rng-seed')!], [1, 2, 3, 4]);
  assert.deepEqual(u32s(n('/memory@80000000').get('reg')!), [0, 0x8000_0000, 0, 0x1000_0000]);
  assert.deepEqual(u32s(n('/cpus').get('timebase-frequency')!), [10_000_000]);
  for (const h of [0, 1]) {
    const cpu = n(`/cpus/cpu@${h}`);
    assert.deepEqual(str(cpu.get('riscv,isa')!), [VIRT_DEFAULT_ISA]);
    assert.deepEqual(str(cpu.get('mmu-type')!), ['riscv,sv48']);
    assert.deepEqual(u32s(cpu.get('reg')!), [h]);
    assert.deepEqual(str(n(`/cpus/cpu@${h}/interrupt-controller`).get('compatible')!), ['riscv,cpu-intc']);
  }
  const intc0 = u32s(n('/cpus/cpu@0/interrupt-controller').get('phandle')!)[0];
  const intc1 = u32s(n('/cpus/cpu@1/interrupt-controller').get('phandle')!)[0];
  assert.deepEqual(u32s(n('/cpus/cpu-map/cluster0/core1').get('cpu')!), u32s(n('/cpus/cpu@1').get('phandle')!));
  const plic = n('/soc/plic@c000000');
  assert.deepEqual(u32s(plic.get('interrupts-extended')!), [intc0, 11, intc0, 9, intc1, 11, intc1, 9]);
  assert.deepEqual(u32s(plic.get('reg')!), [0, 0x0c00_0000, 0, 0x60_0000]);
  assert.deepEqual(str(plic.get('compatible')!), ['sifive,plic-1.0.0', 'riscv,plic0']);
  const plicPh = u32s(plic.get('phandle')!)[0];
  assert.deepEqual(u32s(n('/soc/clint@2000000').get('interrupts-extended')!), [intc0, 3, intc0, 7, intc1, 3, intc1, 7]);
  assert.deepEqual(u32s(n('/soc/serial@10000000').get('interrupts')!), [10]);
  assert.deepEqual(u32s(n('/soc/serial@10000000').get('interrupt-parent')!), [plicPh]);
  assert.deepEqual(u32s(n('/soc/rtc@101000').get('interrupts')!), [11]);
  assert.deepEqual(u32s(n('/soc/virtio_mmio@10001000').get('interrupts')!), [1]);
  assert.deepEqual(u32s(n('/soc/virtio_mmio@10004000').get('interrupts')!), [4]);
  assert.deepEqual(u32s(n('/soc/virtio_mmio@10004000').get('reg')!), [0, 0x1000_4000, 0, 0x1000]);
  assert.equal(p.nodes.has('/soc/virtio_mmio@10002000'), false);
  // Highest slot first, as QEMU lists them.
  assert.ok(p.order.indexOf('/soc/virtio_mmio@10004000') < p.order.indexOf('/soc/virtio_mmio@10001000'));
  const testPh = u32s(n('/soc/test@100000').get('phandle')!)[0];
  assert.deepEqual(u32s(n('/poweroff').get('regmap')!), [testPh]);
  assert.deepEqual(u32s(n('/poweroff').get('value')!), [0x5555]);
  assert.deepEqual(u32s(n('/reboot').get('value')!), [0x7777]);

  const d = dtc(blob);
  if (d === undefined) {
    console.log('dtc not installed (/usr/bin/dtc, Debian device-tree-compiler): skipping decompilation');
    return;
  }
  assert.equal(d.status, 0, d.stderr);
  // dtc's only complaint is the one it makes about QEMU's tree too (cpu-intc nodes have no
  // #address-cells, as the riscv,cpu-intc binding has them).
  const warnings = d.stderr.split('\n').filter((l) => l.trim() !== '');
  for (const w of warnings) assert.match(w, /interrupt_provider.*cpu@\d+\/interrupt-controller: Missing #address-cells/);
  assert.match(d.dts, /plic@c000000 \{/);
  assert.match(d.dts, /compatible = "sifive,test1\\0sifive,test0\\0syscon";/);
});

test('virt: no bootargs property without a command line; bad configurations are refused', () => {
  const p = parseFdt(buildVirtFdt({ memoryBase: 0x8000_0000, memorySize: 1 << 30, harts: 1, bootargs: '' }));
  assert.equal(p.nodes.get('/chosen')!.has('bootargs'), false);
  assert.equal(p.nodes.get('/chosen')!.has('linux,initrd-start'), false);
  const base = { memoryBase: 0x8000_0000, memorySize: 1 << 30 };
  assert.throws(() => buildVirtFdt({ ...base, harts: 0 }), FdtError);
  assert.throws(() => buildVirtFdt({ ...base, harts: 1, virtio: [{ slot: 8 }] }), FdtError);
  assert.throws(() => buildVirtFdt({ ...base, harts: 1, virtio: [{ slot: 1 }, { slot: 1 }] }), FdtError);
  // Memory above 4 GiB: reg uses both cells.
  const big = parseFdt(buildVirtFdt({ memoryBase: 0x8000_0000, memorySize: 6 * 2 ** 30, harts: 1 }));
  assert.deepEqual(u32s(big.nodes.get('/memory@80000000')!.get('reg')!), [0, 0x8000_0000, 1, 0x8000_0000]);
  // The tree can be extended before serializing.
  const tree = buildVirtFdtTree({ ...base, harts: 1 });
  tree.node('/chosen')!.setString('extra', 'yes');
  assert.deepEqual(str(parseFdt(tree.build()).nodes.get('/chosen')!.get('extra')!), ['yes']);
});

/** QEMU nodes we do not model (yet). */
const SKIPPED_QEMU_NODES = [/^\/pmu$/, /^\/fw-cfg@/, /^\/flash@/, /^\/platform-bus@/, /^\/soc\/pci@/];
/** Properties whose values legitimately differ from QEMU's. */
const DIFFERENT_VALUES = new Set([
  'riscv,isa', // we implement RV64GC, QEMU's default cpu has more extensions
  'rng-seed', // random
]);

for (const harts of [1, 2, 4]) {
  test(`virt: same nodes and properties as QEMU 7.2's -M virt (${harts} hart(s))`, (t) => {
    if (!existsSync(QEMU)) {
      t.skip('qemu-system-riscv64 not installed (Debian qemu-system-misc)');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'tsvm-virt-'));
    let qemuBlob: Uint8Array;
    try {
      const kernel = join(dir, 'kernel');
      const initrd = join(dir, 'initrd');
      const dtb = join(dir, 'virt.dtb');
      writeFileSync(kernel, new Uint8Array(4096));
      writeFileSync(initrd, new Uint8Array(10000));
      const r = spawnSync(
        QEMU,
        ['-M', `virt,dumpdtb=${dtb}`, '-m', '256M', '-smp', String(harts), '-nographic', '-kernel', kernel,
          '-initrd', initrd, '-append', 'console=ttyS0 root=/dev/vda'],
        { encoding: 'utf8', timeout: 30_000 },
      );
      if (!existsSync(dtb)) assert.fail(`QEMU did not dump its tree: ${r.stderr}`);
      qemuBlob = readFileSync(dtb);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const qemu = parseFdt(qemuBlob);
    const qchosen = qemu.nodes.get('/chosen')!;
    const ours = parseFdt(
      buildVirtFdt({
        memoryBase: 0x8000_0000,
        memorySize: 256 << 20,
        harts,
        bootargs: 'console=ttyS0 root=/dev/vda',
        initrd: { start: Number(num(qchosen.get('linux,initrd-start')!)), end: Number(num(qchosen.get('linux,initrd-end')!)) },
        virtio: [0, 1, 2, 3, 4, 5, 6, 7].map((slot) => ({ slot })),
        mmuType: str(qemu.nodes.get('/cpus/cpu@0')!.get('mmu-type')!)[0],
        rngSeed: new Uint8Array(32),
      }),
    );
    const implemented = qemu.order.filter((path) => !SKIPPED_QEMU_NODES.some((re) => re.test(path)));
    assert.deepEqual(ours.order, implemented, 'node set and order');
    for (const path of implemented) {
      const q = qemu.nodes.get(path)!;
      const o = ours.nodes.get(path)!;
      assert.deepEqual([...o.keys()].sort(), [...q.keys()].sort(), `properties of ${path}`);
      for (const [name, qv] of q) {
        const ov = o.get(name)!;
        if (DIFFERENT_VALUES.has(name)) continue;
        if (name === 'linux,initrd-start' || name === 'linux,initrd-end') {
          // QEMU 7.2 writes one cell; we write two, so initrds above 4 GiB work. Same value.
          assert.equal(num(ov), num(qv), `${path} ${name}`);
          continue;
        }
        assert.deepEqual([...ov], [...qv], `${path} ${name}`);
      }
    }
  });
}
