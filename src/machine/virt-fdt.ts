/**
 * The device tree of the `virt` board, node for node as QEMU 7.2 generates it for `-M virt`
 * (hw/riscv/virt.c behaviour, observed with `-M virt,dumpdtb=...`), minus the nodes of devices we
 * do not model yet: pmu, fw-cfg, flash, platform-bus and the PCIe host bridge.
 *
 *   /                         #address-cells 2, #size-cells 2, "riscv-virtio", model
 *   /chosen                   bootargs, stdout-path, linux,initrd-start/-end, rng-seed
 *   /poweroff /reboot         syscon-poweroff 0x5555 / syscon-reboot 0x7777 on the test device
 *   /memory@80000000
 *   /cpus                     timebase-frequency; cpu@N with a riscv,cpu-intc child; cpu-map
 *   /soc                      simple-bus:
 *       rtc@101000            google,goldfish-rtc, irq 11
 *       serial@10000000       ns16550a, irq 10
 *       test@100000           sifive,test1 sifive,test0 syscon
 *       virtio_mmio@1000N000  virtio,mmio, irq 1 + slot (listed from the highest slot down, as
 *                             QEMU does: Linux probes them in this order)
 *       plic@c000000          sifive,plic-1.0.0 riscv,plic0; per hart M-ext (11) and S-ext (9)
 *       clint@2000000         sifive,clint0 riscv,clint0; per hart MSI (3) and MTI (7)
 *
 * Phandles are allocated in QEMU's order (harts from the last down, each cpu then its intc; then the
 * PLIC, then the test device), so with the same hart count the values match QEMU's byte for byte.
 */

import { FdtBuilder, FdtError, type FdtNode } from './fdt.js';

/** Guest physical addresses and sizes of the virt board (QEMU's memory map). */
export const VIRT_TEST_BASE = 0x0010_0000;
export const VIRT_TEST_SIZE = 0x1000;
export const VIRT_RTC_BASE = 0x0010_1000;
export const VIRT_RTC_SIZE = 0x1000;
export const VIRT_CLINT_BASE = 0x0200_0000;
export const VIRT_CLINT_SIZE = 0x1_0000;
export const VIRT_PLIC_BASE = 0x0c00_0000;
/** QEMU sizes the PLIC for its 512-hart maximum: 0x20_0000 + 1024 contexts * 0x1000. */
export const VIRT_PLIC_SIZE = 0x60_0000;
export const VIRT_UART0_BASE = 0x1000_0000;
export const VIRT_UART0_SIZE = 0x100;
export const VIRT_VIRTIO_BASE = 0x1000_1000;
export const VIRT_VIRTIO_SIZE = 0x1000;
export const VIRT_VIRTIO_COUNT = 8;
export const VIRT_DRAM_BASE = 0x8000_0000;

/** PLIC sources of the virt board's devices. */
export const VIRT_VIRTIO_IRQ = 1; // slot n uses 1 + n
export const VIRT_UART0_IRQ = 10;
export const VIRT_RTC_IRQ = 11;
/** QEMU 7.2's `riscv,ndev` for virt: sources 1..96. */
export const VIRT_PLIC_NDEV = 0x60;

/** The UART's input clock as QEMU declares it (3.6864 MHz). */
const UART_CLOCK_HZ = 0x38_4000;
const SIFIVE_TEST_POWEROFF = 0x5555;
const SIFIVE_TEST_RESET = 0x7777;
/** mip bit numbers used as interrupt specifiers of the riscv,cpu-intc nodes. */
const IRQ_M_SOFT = 3;
const IRQ_M_TIMER = 7;
const IRQ_S_EXT = 9;
const IRQ_M_EXT = 11;

export interface VirtFdtConfig {
  memoryBase: number;
  memorySize: number;
  /** Number of harts (1..512). */
  harts: number;
  /** Kernel command line; omitted from /chosen when empty, as QEMU does without -append. */
  bootargs?: string;
  /** Physical range [start, end) of the initrd. */
  initrd?: { start: number; end: number };
  /** Populated virtio-mmio slots 0..7 (at 0x1000_1000 + slot * 0x1000, irq 1 + slot). */
  virtio?: readonly { slot: number }[];
  /** riscv,isa of every cpu node. */
  isaString?: string;
  /** mmu-type of every cpu node. */
  mmuType?: string;
  timebaseFrequency?: number;
  /** /chosen stdout-path; default the UART. */
  stdoutPath?: string;
  /** Bytes for /chosen rng-seed (QEMU passes 32 random bytes). */
  rngSeed?: Uint8Array;
}

export const VIRT_DEFAULT_ISA = 'rv64imafdc_zicsr_zifencei';
export const VIRT_DEFAULT_MMU_TYPE = 'riscv,sv48';
export const VIRT_TIMEBASE_HZ = 10_000_000;
const MAX_HARTS = 512;

/** Builds the virt board's DTB. Throws FdtError on an invalid configuration. */
export function buildVirtFdt(config: VirtFdtConfig): Uint8Array {
  return buildVirtFdtTree(config).build();
}

/** Builds the tree without serializing it (to add or change nodes before build()). */
export function buildVirtFdtTree(config: VirtFdtConfig): FdtBuilder {
  const harts = config.harts;
  if (!Number.isInteger(harts) || harts < 1 || harts > MAX_HARTS) {
    throw new FdtError('EINVAL', `the virt board supports 1..${MAX_HARTS} harts, not ${harts}`);
  }
  if (!Number.isSafeInteger(config.memoryBase) || !Number.isSafeInteger(config.memorySize) || config.memorySize <= 0) {
    throw new FdtError('EINVAL', 'memory base and size must be integers, the size positive');
  }
  const slots = (config.virtio ?? []).map((v) => v.slot);
  for (const s of slots) {
    if (!Number.isInteger(s) || s < 0 || s >= VIRT_VIRTIO_COUNT) {
      throw new FdtError('EINVAL', `virtio-mmio slot ${s} is outside 0..${VIRT_VIRTIO_COUNT - 1}`);
    }
  }
  if (new Set(slots).size !== slots.length) throw new FdtError('EINVAL', 'a virtio-mmio slot is used twice');
  if (config.initrd !== undefined && !(config.initrd.end >= config.initrd.start)) {
    throw new FdtError('EINVAL', 'the initrd ends before it starts');
  }

  const fdt = new FdtBuilder();
  // Phandles in QEMU's order.
  const cpuPhandle: number[] = new Array<number>(harts);
  const intcPhandle: number[] = new Array<number>(harts);
  for (let h = harts - 1; h >= 0; h--) {
    cpuPhandle[h] = fdt.allocatePhandle();
    intcPhandle[h] = fdt.allocatePhandle();
  }
  const plicPhandle = fdt.allocatePhandle();
  const testPhandle = fdt.allocatePhandle();

  const root = fdt.root;
  root.setU32('#address-cells', 2);
  root.setU32('#size-cells', 2);
  root.setString('compatible', 'riscv-virtio');
  root.setString('model', 'riscv-virtio,qemu');

  const chosen = root.addNode('chosen');
  if (config.initrd !== undefined) {
    chosen.setU64('linux,initrd-end', config.initrd.end);
    chosen.setU64('linux,initrd-start', config.initrd.start);
  }
  if (config.rngSeed !== undefined) chosen.setBytes('rng-seed', config.rngSeed);
  if (config.bootargs !== undefined && config.bootargs !== '') chosen.setString('bootargs', config.bootargs);
  chosen.setString('stdout-path', config.stdoutPath ?? `/soc/serial@${hexName(VIRT_UART0_BASE)}`);

  root
    .addNode('poweroff')
    .setU32('value', SIFIVE_TEST_POWEROFF)
    .setU32('offset', 0)
    .setU32('regmap', testPhandle)
    .setString('compatible', 'syscon-poweroff');
  root
    .addNode('reboot')
    .setU32('value', SIFIVE_TEST_RESET)
    .setU32('offset', 0)
    .setU32('regmap', testPhandle)
    .setString('compatible', 'syscon-reboot');

  root
    .addNode(`memory@${hexName(config.memoryBase)}`)
    .setString('device_type', 'memory')
    .setU32Array('reg', reg(config.memoryBase, config.memorySize));

  const cpus = root.addNode('cpus');
  cpus.setU32('#address-cells', 1);
  cpus.setU32('#size-cells', 0);
  cpus.setU32('timebase-frequency', config.timebaseFrequency ?? VIRT_TIMEBASE_HZ);
  for (let h = 0; h < harts; h++) {
    const cpu = cpus.addNode(`cpu@${h.toString(16)}`);
    cpu.setPhandle(cpuPhandle[h]);
    cpu.setString('device_type', 'cpu');
    cpu.setU32('reg', h);
    cpu.setString('status', 'okay');
    cpu.setString('compatible', 'riscv');
    cpu.setString('riscv,isa', config.isaString ?? VIRT_DEFAULT_ISA);
    cpu.setString('mmu-type', config.mmuType ?? VIRT_DEFAULT_MMU_TYPE);
    cpu
      .addNode('interrupt-controller')
      .setU32('#interrupt-cells', 1)
      .setEmpty('interrupt-controller')
      .setString('compatible', 'riscv,cpu-intc')
      .setPhandle(intcPhandle[h]);
  }
  const cluster = cpus.addNode('cpu-map').addNode('cluster0');
  for (let h = 0; h < harts; h++) cluster.addNode(`core${h}`).setU32('cpu', cpuPhandle[h]);

  const soc = root.addNode('soc');
  soc.setU32('#address-cells', 2);
  soc.setU32('#size-cells', 2);
  soc.setString('compatible', 'simple-bus');
  soc.setEmpty('ranges');

  deviceNode(soc, 'rtc', VIRT_RTC_BASE, VIRT_RTC_SIZE, plicPhandle, VIRT_RTC_IRQ).setString(
    'compatible',
    'google,goldfish-rtc',
  );
  const serial = soc.addNode(`serial@${hexName(VIRT_UART0_BASE)}`);
  serial.setU32('interrupts', VIRT_UART0_IRQ);
  serial.setU32('interrupt-parent', plicPhandle);
  serial.setU32('clock-frequency', UART_CLOCK_HZ);
  serial.setU32Array('reg', reg(VIRT_UART0_BASE, VIRT_UART0_SIZE));
  serial.setString('compatible', 'ns16550a');

  soc
    .addNode(`test@${hexName(VIRT_TEST_BASE)}`)
    .setPhandle(testPhandle)
    .setU32Array('reg', reg(VIRT_TEST_BASE, VIRT_TEST_SIZE))
    .setStringList('compatible', ['sifive,test1', 'sifive,test0', 'syscon']);

  for (const slot of [...slots].sort((a, b) => b - a)) {
    deviceNode(
      soc,
      'virtio_mmio',
      VIRT_VIRTIO_BASE + slot * VIRT_VIRTIO_SIZE,
      VIRT_VIRTIO_SIZE,
      plicPhandle,
      VIRT_VIRTIO_IRQ + slot,
    ).setString('compatible', 'virtio,mmio');
  }

  const plicIrqs: number[] = [];
  const clintIrqs: number[] = [];
  for (let h = 0; h < harts; h++) {
    plicIrqs.push(intcPhandle[h], IRQ_M_EXT, intcPhandle[h], IRQ_S_EXT);
    clintIrqs.push(intcPhandle[h], IRQ_M_SOFT, intcPhandle[h], IRQ_M_TIMER);
  }
  soc
    .addNode(`plic@${hexName(VIRT_PLIC_BASE)}`)
    .setPhandle(plicPhandle)
    .setU32('riscv,ndev', VIRT_PLIC_NDEV)
    .setU32Array('reg', reg(VIRT_PLIC_BASE, VIRT_PLIC_SIZE))
    .setU32Array('interrupts-extended', plicIrqs)
    .setEmpty('interrupt-controller')
    .setStringList('compatible', ['sifive,plic-1.0.0', 'riscv,plic0'])
    .setU32('#address-cells', 0)
    .setU32('#interrupt-cells', 1);
  soc
    .addNode(`clint@${hexName(VIRT_CLINT_BASE)}`)
    .setU32Array('interrupts-extended', clintIrqs)
    .setU32Array('reg', reg(VIRT_CLINT_BASE, VIRT_CLINT_SIZE))
    .setStringList('compatible', ['sifive,clint0', 'riscv,clint0']);

  return fdt;
}

/** A soc child with interrupts, interrupt-parent and reg (compatible is added by the caller). */
function deviceNode(soc: FdtNode, name: string, base: number, size: number, plic: number, irq: number): FdtNode {
  return soc
    .addNode(`${name}@${hexName(base)}`)
    .setU32('interrupts', irq)
    .setU32('interrupt-parent', plic)
    .setU32Array('reg', reg(base, size));
}

/** A reg entry with 2 address cells and 2 size cells. */
function reg(base: number, size: number): number[] {
  return [hi32(base), base >>> 0, hi32(size), size >>> 0];
}

function hi32(v: number): number {
  return Math.floor(v / 0x1_0000_0000) >>> 0;
}

function hexName(v: number): string {
  return v.toString(16);
}
