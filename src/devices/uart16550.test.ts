import { test } from 'node:test';
import assert from 'node:assert/strict';

import { MmioValue } from '../hart/index.js';
import {
  Uart16550,
  UART_RBR,
  UART_THR,
  UART_IER,
  UART_IIR,
  UART_FCR,
  UART_LCR,
  UART_MCR,
  UART_LSR,
  UART_MSR,
  UART_SCR,
  IER_RDI,
  IER_THRI,
  IER_RLSI,
  IER_MSI,
  IIR_NO_INT,
  IIR_THRI,
  IIR_RDI,
  IIR_RLSI,
  IIR_RX_TIMEOUT,
  IIR_MSI,
  LSR_DR,
  LSR_OE,
  LSR_THRE,
  LSR_TEMT,
  LCR_DLAB,
  MCR_LOOP,
  MCR_RTS,
  MCR_OUT2,
} from './uart16550.js';
import { DeviceStateError } from './device-state.js';

function setup(): { uart: Uart16550; out: number[]; irq: boolean[]; rd: (r: number) => number; wr: (r: number, v: number) => void } {
  const out: number[] = [];
  const irq: boolean[] = [];
  const uart = new Uart16550({ output: (b) => out.push(b), interrupt: (l) => irq.push(l) });
  const v = new MmioValue();
  return {
    uart,
    out,
    irq,
    rd: (r) => {
      uart.read(r, 1, v);
      return v.lo;
    },
    wr: (r, val) => uart.write(r, 1, val, 0),
  };
}
const level = (irq: boolean[]): boolean => irq.length > 0 && irq[irq.length - 1];

test('power-on values', () => {
  const { rd, irq } = setup();
  assert.equal(rd(UART_IER), 0);
  assert.equal(rd(UART_IIR), IIR_NO_INT);
  assert.equal(rd(UART_LCR), 0);
  assert.equal(rd(UART_MCR), 0);
  assert.equal(rd(UART_LSR), LSR_THRE | LSR_TEMT);
  assert.equal(rd(UART_MSR) & 0xf0, 0xb0); // CTS, DSR, DCD
  assert.equal(rd(UART_RBR), 0);
  assert.deepEqual(irq, []);
});

test('THR writes go to the output; the divisor latch hides RBR/THR and IER', () => {
  const { rd, wr, out } = setup();
  for (const c of 'ok\n') wr(UART_THR, c.charCodeAt(0));
  assert.equal(String.fromCharCode(...out), 'ok\n');
  wr(UART_LCR, LCR_DLAB | 0x03);
  wr(UART_THR, 0x12); // DLL
  wr(UART_IER, 0x34); // DLM
  assert.equal(rd(UART_RBR), 0x12);
  assert.equal(rd(UART_IER), 0x34);
  assert.equal(out.length, 3, 'DLL write is not transmitted');
  wr(UART_LCR, 0x03);
  assert.equal(rd(UART_IER), 0);
  assert.equal(rd(UART_LCR), 0x03);
  wr(UART_SCR, 0xa5);
  assert.equal(rd(UART_SCR), 0xa5);
  wr(UART_IER, 0xff);
  assert.equal(rd(UART_IER), 0x0f, 'IER keeps four bits');
});

test('THR-empty interrupt: raised on enable, acknowledged by IIR read, re-armed by THR write', () => {
  const { rd, wr, irq } = setup();
  wr(UART_IER, IER_THRI);
  assert.equal(level(irq), true);
  assert.equal(rd(UART_IIR) & 0x0f, IIR_THRI);
  assert.equal(level(irq), false);
  assert.equal(rd(UART_IIR) & 0x0f, IIR_NO_INT);
  wr(UART_THR, 0x41);
  assert.equal(level(irq), true);
  assert.equal(rd(UART_IIR) & 0x0f, IIR_THRI);
  // Linux's startup probe: disable, re-enable, and the interrupt must be reasserted.
  wr(UART_IER, 0);
  assert.equal(rd(UART_IIR) & 0x0f, IIR_NO_INT);
  wr(UART_IER, IER_THRI);
  assert.equal(rd(UART_IIR) & 0x0f, IIR_THRI);
  // Disabling ETBEI drops a pending THR-empty interrupt.
  wr(UART_THR, 0x42);
  assert.equal(level(irq), true);
  wr(UART_IER, 0);
  assert.equal(level(irq), false);
});

test('RX FIFO: DR, trigger levels, timeout identity, 16-byte limit', () => {
  const { uart, rd, wr, irq } = setup();
  wr(UART_FCR, 0x01 | 0x80); // enable FIFO, trigger 8
  assert.equal(rd(UART_IIR) & 0xc0, 0xc0, 'FIFO enabled bits');
  wr(UART_IER, IER_RDI);
  assert.equal(level(irq), false);
  assert.equal(uart.receive(new Uint8Array([1, 2, 3])), 3);
  assert.equal(rd(UART_LSR) & LSR_DR, LSR_DR);
  assert.equal(level(irq), true);
  assert.equal(rd(UART_IIR) & 0x0f, IIR_RX_TIMEOUT, 'below trigger: character timeout');
  assert.equal(uart.receive(new Uint8Array([4, 5, 6, 7, 8])), 5);
  assert.equal(rd(UART_IIR) & 0x0f, IIR_RDI, 'at trigger: data available');
  const big = new Uint8Array(20).map((_, i) => 100 + i);
  assert.equal(uart.rxSpace, 8);
  assert.equal(uart.receive(big), 8, 'only 16 bytes fit');
  assert.equal(uart.rxSpace, 0);
  const got: number[] = [];
  while (rd(UART_LSR) & LSR_DR) got.push(rd(UART_RBR));
  assert.deepEqual(got, [1, 2, 3, 4, 5, 6, 7, 8, 100, 101, 102, 103, 104, 105, 106, 107]);
  assert.equal(level(irq), false);
  assert.equal(rd(UART_IIR) & 0x0f, IIR_NO_INT);
});

test('FCR clears the RX FIFO; without FIFO the receiver holds one byte', () => {
  const { uart, rd, wr } = setup();
  assert.equal(uart.receive(new Uint8Array([9, 10])), 1, '16450 mode');
  assert.equal(rd(UART_IIR) & 0xc0, 0);
  wr(UART_FCR, 0x01); // enabling the FIFO clears it
  assert.equal(rd(UART_LSR) & LSR_DR, 0);
  uart.receive(new Uint8Array([1, 2]));
  wr(UART_FCR, 0x01 | 0x02);
  assert.equal(rd(UART_LSR) & LSR_DR, 0);
  assert.equal(rd(UART_RBR), 0);
});

test('interrupt priorities: line status > rx data > THR empty > modem status', () => {
  const { uart, rd, wr } = setup();
  wr(UART_FCR, 0x01); // trigger 1
  wr(UART_IER, IER_RDI | IER_THRI | IER_RLSI | IER_MSI);
  wr(UART_MCR, MCR_LOOP); // modem lines change: CTS/DSR/DCD drop -> modem status deltas
  // Loopback: fill the FIFO and overrun it.
  for (let i = 0; i < 17; i++) wr(UART_THR, i);
  assert.equal(rd(UART_IIR) & 0x0f, IIR_RLSI);
  assert.equal(rd(UART_LSR) & LSR_OE, LSR_OE, 'overrun reported once');
  assert.equal(rd(UART_LSR) & LSR_OE, 0);
  assert.equal(rd(UART_IIR) & 0x0f, IIR_RDI);
  while (rd(UART_LSR) & LSR_DR) rd(UART_RBR);
  assert.equal(rd(UART_IIR) & 0x0f, IIR_THRI);
  assert.equal(rd(UART_IIR) & 0x0f, IIR_MSI);
  rd(UART_MSR);
  assert.equal(rd(UART_IIR) & 0x0f, IIR_NO_INT);
  assert.equal(uart.receive(new Uint8Array([1])), 0, 'no host input in loopback');
});

test('loopback: THR feeds RX, MCR outputs appear in MSR (8250 autoconfig probe)', () => {
  const { rd, wr, out } = setup();
  wr(UART_FCR, 0x01);
  wr(UART_MCR, MCR_LOOP | MCR_RTS | MCR_OUT2);
  assert.equal(rd(UART_MSR) & 0xf0, 0x90, 'CTS + DCD');
  wr(UART_THR, 0x5a);
  assert.deepEqual(out, []);
  assert.equal(rd(UART_LSR) & LSR_DR, LSR_DR);
  assert.equal(rd(UART_RBR), 0x5a);
  wr(UART_MCR, 0);
  assert.equal(rd(UART_MSR) & 0xf0, 0xb0);
  wr(UART_THR, 0x41);
  assert.deepEqual(out, [0x41]);
});

test('OpenSBI-style init and polled output', () => {
  const { rd, wr, out } = setup();
  wr(UART_IER, 0);
  wr(UART_LCR, LCR_DLAB);
  wr(UART_RBR, 1);
  wr(UART_IER, 0);
  wr(UART_LCR, 0x03);
  wr(UART_FCR, 0x01);
  wr(UART_MCR, 0);
  rd(UART_LSR);
  rd(UART_RBR);
  wr(UART_SCR, 0);
  for (const c of 'OpenSBI') {
    while ((rd(UART_LSR) & LSR_THRE) === 0);
    wr(UART_THR, c.charCodeAt(0));
  }
  assert.equal(String.fromCharCode(...out), 'OpenSBI');
});

test('wider accesses act on the byte register; offsets past 7 are ignored', () => {
  const { uart } = setup();
  const v = new MmioValue();
  uart.write(UART_SCR, 4, 0x1234_56ab, 0);
  uart.read(UART_SCR, 4, v);
  assert.equal(v.lo, 0xab);
  uart.write(0x20, 1, 0xff, 0);
  uart.read(0x20, 1, v);
  assert.equal(v.lo, 0);
});

test('state round-trip keeps registers, FIFO and the interrupt line', () => {
  const a = setup();
  a.wr(UART_LCR, LCR_DLAB);
  a.wr(UART_RBR, 0x0c);
  a.wr(UART_IER, 0x01);
  a.wr(UART_LCR, 0x1b);
  a.wr(UART_FCR, 0x41);
  a.wr(UART_MCR, 0x0b);
  a.wr(UART_SCR, 0x77);
  a.wr(UART_IER, IER_RDI | IER_THRI);
  a.uart.receive(new Uint8Array([65, 66, 67]));
  const state = a.uart.saveState();
  const json = JSON.parse(JSON.stringify(state)) as unknown;

  const b = setup();
  b.uart.loadState(json);
  assert.deepEqual(b.uart.saveState(), state);
  assert.equal(level(b.irq), true, 'line re-sent');
  assert.equal(b.rd(UART_LCR), 0x1b);
  assert.equal(b.rd(UART_MCR), 0x0b);
  assert.equal(b.rd(UART_SCR), 0x77);
  assert.equal(b.rd(UART_IIR), 0xc0 | IIR_RX_TIMEOUT); // 3 bytes < trigger 4
  assert.equal(b.rd(UART_RBR), 65);
  assert.equal(b.rd(UART_RBR), 66);
  assert.equal(b.rd(UART_RBR), 67);
  b.wr(UART_LCR, 0x9b);
  assert.equal(b.rd(UART_RBR), 0x0c);
});

test('loadState rejects invalid state without changing anything', () => {
  const { uart, rd, wr } = setup();
  wr(UART_SCR, 0x42);
  const good = uart.saveState();
  const bad: unknown[] = [
    undefined,
    'x',
    { ...good, version: 0 },
    { ...good, ier: 0x10 },
    { ...good, dll: 256 },
    { ...good, dll: 1.5 },
    { ...good, fcr: 0x02 },
    { ...good, fcr: 0x40 },
    { ...good, lsrErrors: 0x20 },
    { ...good, thrEmptyPending: 1 },
    { ...good, rx: [1, 2] }, // FIFO disabled: at most one byte
    { ...good, rx: [256] },
    { ...good, rx: 'abc' },
    { ...good, unknown: 1 },
  ];
  for (const s of bad) assert.throws(() => uart.loadState(s), DeviceStateError, JSON.stringify(s));
  assert.equal(rd(UART_SCR), 0x42);
  assert.deepEqual(uart.saveState(), good);
});
