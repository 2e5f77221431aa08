/**
 * Test support (not part of the layer's public face): drives a real VirtMachine deterministically
 * and presents it as a SnapshottableMachine.
 */

import type { VirtMachine } from '../machine/virt.js';
import type { SnapshottableMachine } from './machine-state.js';

/**
 * The machine as SnapshottableMachine. Stopgap until VirtMachine implements the interface: the
 * board's clock offset and console queue are private, so this test reaches them by name.
 */
export function snapshottable(m: VirtMachine): SnapshottableMachine {
  const own = m as unknown as Partial<SnapshottableMachine>;
  if (typeof own.setMtime === 'function' && typeof own.pendingInput === 'function' && typeof own.setPendingInput === 'function') {
    return m as unknown as SnapshottableMachine;
  }
  const priv = m as unknown as { virtualTicks: number; hostOriginMs: number; inputQueue: number[] };
  return {
    config: m.config, vm: m.vm, vcpus: m.vcpus, uart: m.uart, clint: m.clint, plic: m.plic, rtc: m.rtc,
    virtio: m.virtio, disks: m.disks,
    get instructions(): number {
      return m.instructions;
    },
    set instructions(n: number) {
      m.instructions = n;
    },
    mtime: () => m.mtime(),
    setMtime(ticks: number): void {
      if (m.config.clock === 'virtual') priv.virtualTicks = ticks - Math.floor(m.instructions / 10);
      else priv.hostOriginMs = m.host.monotonicMs() - ticks / 10_000;
    },
    pendingInput: () => Uint8Array.from(priv.inputQueue),
    setPendingInput(bytes: Uint8Array): void {
      priv.inputQueue.length = 0;
      priv.inputQueue.push(...bytes);
    },
  };
}

const SLICE = 20_000;
const INSTRUCTIONS_PER_TICK = 10;

/**
 * Runs `slices` scheduling slices the way the board's run loop does, but synchronously and with no
 * host time involved: when every hart idles, the virtual clock jumps to the next timer deadline
 * (by counting the skipped ticks as instructions). `input` is typed into the UART.
 */
export function stepMachine(m: VirtMachine, slices: number, input: number[] = []): void {
  for (let s = 0; s < slices; s++) {
    let active = 0;
    let idle = 0;
    for (const v of m.vcpus) {
      if (v.hsm !== 'started') continue;
      active++;
      const before = v.hart.instret;
      const exit = v.run(SLICE);
      m.instructions += v.hart.instret - before;
      if (exit.kind === 'halt') idle++;
      else if (exit.kind === 'system-event' || exit.kind === 'internal-error') {
        throw new Error(`hart ${v.id} stopped: ${exit.kind} ${exit.message}`);
      }
    }
    m.clint.update();
    const now = m.mtime();
    for (const v of m.vcpus) v.updateTimer(now);
    m.rtc.update();
    if (input.length > 0) input.splice(0, m.uart.receive(Uint8Array.from(input.slice(0, 16))));
    if ((active === 0 || idle === active) && !m.vcpus.some((v) => v.hsm === 'started' && v.hart.interruptPending())) {
      let deadline = m.clint.nextDeadline();
      if (Number.isFinite(deadline)) deadline += now;
      for (const v of m.vcpus) deadline = Math.min(deadline, v.stimecmp);
      const alarmMs = m.rtc.nextAlarmMs();
      if (Number.isFinite(alarmMs)) deadline = Math.min(deadline, now + alarmMs * 10_000);
      if (Number.isFinite(deadline) && deadline > now) m.instructions += (deadline - now) * INSTRUCTIONS_PER_TICK;
    }
  }
}

/** Everything observable about a machine but its RAM. */
export function machineState(m: VirtMachine): unknown {
  return {
    instructions: m.instructions,
    mtime: m.mtime(),
    harts: m.vcpus.map((v) => ({ state: v.saveState(), mipHw: v.hart.mipHw, mip: v.hart.interruptPending() })),
    uart: m.uart.saveState(),
    rtc: m.rtc.saveState(),
    plic: m.plic.saveState(),
    clint: m.clint.saveState(),
    virtio: m.virtio.map((t) => t.saveState()),
  };
}

/** A copy of every RAM and ROM region of the machine, in region order. */
export function ramImage(m: VirtMachine): Uint8Array {
  const mem = m.vm.memory;
  const size = mem.ram.reduce((n, r) => n + r.size, 0);
  const out = new Uint8Array(size);
  let at = 0;
  for (const r of mem.ram) {
    out.set(mem.u8.subarray(r.arenaOffset, r.arenaOffset + r.size), at);
    at += r.size;
  }
  return out;
}
