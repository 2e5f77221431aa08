/**
 * An NS16550A UART as on QEMU's `virt` board (UART0 at 0x1000_0000, IRQ 10, DT compatible
 * "ns16550a", reg-shift 0, reg-io-width 1), modelled after the National Semiconductor PC16550D
 * datasheet. Enough for Linux's 8250 driver (including its startup THRE and loopback probes) and
 * OpenSBI's / U-Boot's uart8250 drivers.
 *
 * Register map (byte registers at offsets 0..7; DLAB = LCR bit 7):
 *
 *   off  DLAB  read                      write
 *   0    0     RBR receive buffer        THR transmit holding
 *   0    1     DLL divisor latch low     DLL
 *   1    0     IER interrupt enable      IER   bit0 ERBFI rx data, bit1 ETBEI THR empty,
 *                                              bit2 ELSI line status, bit3 EDSSI modem status
 *   1    1     DLM divisor latch high    DLM
 *   2    -     IIR interrupt identity    FCR FIFO control: bit0 enable, bit1 clear RX, bit2 clear TX,
 *                                              bits 7:6 RX trigger level (1, 4, 8, 14 bytes)
 *   3    -     LCR line control          LCR   bit7 DLAB; word length/parity/stop are stored only
 *   4    -     MCR modem control         MCR   bit0 DTR, bit1 RTS, bit2 OUT1, bit3 OUT2, bit4 LOOP
 *   5    -     LSR line status           (ignored) bit0 DR, bit1 OE, bit4 BI, bit5 THRE, bit6 TEMT
 *   6    -     MSR modem status          (ignored) bits 3:0 deltas, 4 CTS, 5 DSR, 6 RI, 7 DCD
 *   7    -     SCR scratch               SCR
 *
 * IIR (bit 0 clear = interrupt pending; bits 7:6 = 11 while FIFOs are enabled), by priority:
 *   0x06 line status (OE/PE/FE/BI, cleared by reading LSR)
 *   0x04 RX data at or above the trigger level; 0x0C RX timeout (data below the trigger level)
 *   0x02 THR empty (cleared by reading IIR while it is reported, or by writing THR)
 *   0x00 modem status (cleared by reading MSR)
 *
 * The transmitter is infinitely fast: a byte written to THR goes out at once (THRE and TEMT stay
 * set) and the THR-empty interrupt re-arms. Bytes arrive through receive(); the host keeps what
 * does not fit in the 16-byte RX FIFO. Accesses of any width act on the addressed byte register.
 */

import type { MmioHandler, MmioValue } from '../hart/index.js';
import { DeviceStateError, intArrayField, intField, boolField, rejectUnknownFields, stateRecord } from './device-state.js';

export const UART_SIZE = 0x100;
export const UART_FIFO_SIZE = 16;

// Register offsets.
export const UART_RBR = 0;
export const UART_THR = 0;
export const UART_IER = 1;
export const UART_IIR = 2;
export const UART_FCR = 2;
export const UART_LCR = 3;
export const UART_MCR = 4;
export const UART_LSR = 5;
export const UART_MSR = 6;
export const UART_SCR = 7;

// Bits.
export const IER_RDI = 0x01;
export const IER_THRI = 0x02;
export const IER_RLSI = 0x04;
export const IER_MSI = 0x08;
export const IIR_NO_INT = 0x01;
export const IIR_MSI = 0x00;
export const IIR_THRI = 0x02;
export const IIR_RDI = 0x04;
export const IIR_RLSI = 0x06;
export const IIR_RX_TIMEOUT = 0x0c;
export const IIR_FIFO_ENABLED = 0xc0;
export const FCR_ENABLE = 0x01;
export const FCR_CLEAR_RX = 0x02;
export const FCR_CLEAR_TX = 0x04;
export const LCR_DLAB = 0x80;
export const MCR_DTR = 0x01;
export const MCR_RTS = 0x02;
export const MCR_OUT1 = 0x04;
export const MCR_OUT2 = 0x08;
export const MCR_LOOP = 0x10;
export const LSR_DR = 0x01;
export const LSR_OE = 0x02;
export const LSR_PE = 0x04;
export const LSR_FE = 0x08;
export const LSR_BI = 0x10;
export const LSR_THRE = 0x20;
export const LSR_TEMT = 0x40;
export const MSR_DCTS = 0x01;
export const MSR_DDSR = 0x02;
export const MSR_TERI = 0x04;
export const MSR_DDCD = 0x08;
export const MSR_CTS = 0x10;
export const MSR_DSR = 0x20;
export const MSR_RI = 0x40;
export const MSR_DCD = 0x80;

/** Modem inputs when not in loopback: a terminal is attached and ready (CTS, DSR, DCD). */
const MSR_IDLE_LINES = MSR_CTS | MSR_DSR | MSR_DCD;
const LSR_ERRORS = LSR_OE | LSR_PE | LSR_FE | LSR_BI;
const RX_TRIGGER = [1, 4, 8, 14];

export interface Uart16550Options {
  /** Called with each byte the guest transmits. */
  output: (byte: number) => void;
  /** The interrupt line (to the PLIC); called only when the level changes. */
  interrupt?: (level: boolean) => void;
}

export interface Uart16550State {
  version: 1;
  dll: number;
  dlm: number;
  ier: number;
  lcr: number;
  mcr: number;
  scr: number;
  /** FCR bits kept: enable (bit 0) and RX trigger (bits 7:6). */
  fcr: number;
  /** Pending LSR error bits (OE, PE, FE, BI). */
  lsrErrors: number;
  /** Pending MSR delta bits. */
  msrDeltas: number;
  /** THR-empty interrupt armed. */
  thrEmptyPending: boolean;
  /** RX FIFO contents, oldest first. */
  rx: number[];
}

export class Uart16550 implements MmioHandler {
  private readonly output: (byte: number) => void;
  private readonly interrupt: (level: boolean) => void;

  private dll = 0;
  private dlm = 0;
  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private scr = 0;
  private fcr = 0;
  private lsrErrors = 0;
  private msrDeltas = 0;
  private thrEmptyPending = false;
  private readonly rxFifo = new Uint8Array(UART_FIFO_SIZE);
  private rxHead = 0;
  private rxCount = 0;
  private irqLevel = false;

  constructor(options: Uart16550Options) {
    this.output = options.output;
    this.interrupt = options.interrupt ?? (() => {});
  }

  /** Returns every register to its power-on value and empties the FIFO. */
  reset(): void {
    this.dll = this.dlm = this.ier = this.lcr = this.mcr = this.scr = this.fcr = 0;
    this.lsrErrors = this.msrDeltas = 0;
    this.thrEmptyPending = false;
    this.rxHead = this.rxCount = 0;
    this.updateIrq();
  }

  /** Bytes the RX FIFO can take now. */
  get rxSpace(): number {
    return this.rxCapacity() - this.rxCount;
  }

  /**
   * Queues bytes from the host (keyboard, socket). Returns how many were taken; the caller keeps
   * the rest and offers them again later (a real line would overrun instead). Ignored in loopback.
   */
  receive(bytes: Uint8Array): number {
    if ((this.mcr & MCR_LOOP) !== 0) return 0;
    const n = Math.min(bytes.length, this.rxSpace);
    for (let i = 0; i < n; i++) this.pushRx(bytes[i]);
    if (n > 0) this.updateIrq();
    return n;
  }

  // ---- MmioHandler ----

  read(offset: number, _size: number, value: MmioValue): void {
    value.lo = offset < 8 ? this.readReg(offset) : 0;
    value.hi = 0;
  }

  write(offset: number, _size: number, lo: number, _hi: number): void {
    if (offset < 8) this.writeReg(offset, lo & 0xff);
  }

  // ---- registers ----

  private readReg(reg: number): number {
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (reg) {
      case UART_RBR: {
        if (dlab) return this.dll;
        if (this.rxCount === 0) return 0;
        const b = this.rxFifo[this.rxHead];
        this.rxHead = (this.rxHead + 1) % UART_FIFO_SIZE;
        this.rxCount--;
        this.updateIrq();
        return b;
      }
      case UART_IER:
        return dlab ? this.dlm : this.ier;
      case UART_IIR: {
        const id = this.interruptId();
        if (id === IIR_THRI) {
          this.thrEmptyPending = false; // reading IIR acknowledges a THR-empty interrupt
          this.updateIrq();
        }
        return id | ((this.fcr & FCR_ENABLE) !== 0 ? IIR_FIFO_ENABLED : 0);
      }
      case UART_LCR:
        return this.lcr;
      case UART_MCR:
        return this.mcr;
      case UART_LSR: {
        const v = (this.rxCount > 0 ? LSR_DR : 0) | LSR_THRE | LSR_TEMT | this.lsrErrors;
        if (this.lsrErrors !== 0) {
          this.lsrErrors = 0;
          this.updateIrq();
        }
        return v;
      }
      case UART_MSR: {
        const v = this.modemLines() | this.msrDeltas;
        if (this.msrDeltas !== 0) {
          this.msrDeltas = 0;
          this.updateIrq();
        }
        return v;
      }
      default: // UART_SCR
        return this.scr;
    }
  }

  private writeReg(reg: number, v: number): void {
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (reg) {
      case UART_THR:
        if (dlab) {
          this.dll = v;
          return;
        }
        if ((this.mcr & MCR_LOOP) !== 0) {
          if (this.rxCount < this.rxCapacity()) this.pushRx(v);
          else this.lsrErrors |= LSR_OE;
        } else {
          this.output(v);
        }
        // Transmitted at once: the holding register is empty again.
        this.thrEmptyPending = true;
        this.updateIrq();
        return;
      case UART_IER:
        if (dlab) {
          this.dlm = v;
          return;
        }
        {
          const enablingThri = (v & IER_THRI) !== 0 && (this.ier & IER_THRI) === 0;
          this.ier = v & 0x0f;
          // Enabling ETBEI while THR is empty raises the interrupt (Linux probes for this).
          if (enablingThri) this.thrEmptyPending = true;
          else if ((v & IER_THRI) === 0) this.thrEmptyPending = false;
        }
        this.updateIrq();
        return;
      case UART_FCR: {
        const enable = v & FCR_ENABLE;
        if (enable !== (this.fcr & FCR_ENABLE) || (v & FCR_CLEAR_RX) !== 0) this.rxHead = this.rxCount = 0;
        // The datasheet: other FCR bits are written only together with the enable bit.
        this.fcr = enable !== 0 ? v & 0xc1 : 0;
        this.updateIrq();
        return;
      }
      case UART_LCR:
        this.lcr = v;
        return;
      case UART_MCR: {
        const before = this.modemLines();
        const leavingLoop = (this.mcr & MCR_LOOP) !== 0 && (v & MCR_LOOP) === 0;
        this.mcr = v & 0x1f;
        if (leavingLoop) this.rxHead = this.rxCount = 0; // drop looped-back bytes
        this.noteModemChange(before, this.modemLines());
        this.updateIrq();
        return;
      }
      case UART_SCR:
        this.scr = v;
        return;
      default: // LSR, MSR: read-only (factory test writes are ignored)
        return;
    }
  }

  /** The IIR interrupt identification (bits 3:0) by priority; IIR_NO_INT when none. */
  private interruptId(): number {
    const ier = this.ier;
    if ((ier & IER_RLSI) !== 0 && this.lsrErrors !== 0) return IIR_RLSI;
    if ((ier & IER_RDI) !== 0 && this.rxCount > 0) {
      const fifo = (this.fcr & FCR_ENABLE) !== 0;
      return !fifo || this.rxCount >= RX_TRIGGER[this.fcr >>> 6] ? IIR_RDI : IIR_RX_TIMEOUT;
    }
    if ((ier & IER_THRI) !== 0 && this.thrEmptyPending) return IIR_THRI;
    if ((ier & IER_MSI) !== 0 && this.msrDeltas !== 0) return IIR_MSI;
    return IIR_NO_INT;
  }

  private updateIrq(): void {
    const level = this.interruptId() !== IIR_NO_INT;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.interrupt(level);
    }
  }

  /** MSR bits 7:4: loopback wires them to MCR outputs, otherwise a ready terminal. */
  private modemLines(): number {
    const m = this.mcr;
    if ((m & MCR_LOOP) === 0) return MSR_IDLE_LINES;
    return (
      ((m & MCR_RTS) !== 0 ? MSR_CTS : 0) |
      ((m & MCR_DTR) !== 0 ? MSR_DSR : 0) |
      ((m & MCR_OUT1) !== 0 ? MSR_RI : 0) |
      ((m & MCR_OUT2) !== 0 ? MSR_DCD : 0)
    );
  }

  private noteModemChange(before: number, after: number): void {
    const changed = before ^ after;
    if ((changed & MSR_CTS) !== 0) this.msrDeltas |= MSR_DCTS;
    if ((changed & MSR_DSR) !== 0) this.msrDeltas |= MSR_DDSR;
    if ((changed & MSR_DCD) !== 0) this.msrDeltas |= MSR_DDCD;
    if ((before & MSR_RI) !== 0 && (after & MSR_RI) === 0) this.msrDeltas |= MSR_TERI; // trailing edge
  }

  private rxCapacity(): number {
    return (this.fcr & FCR_ENABLE) !== 0 ? UART_FIFO_SIZE : 1; // 16450 mode: one holding register
  }

  private pushRx(b: number): void {
    this.rxFifo[(this.rxHead + this.rxCount) % UART_FIFO_SIZE] = b;
    this.rxCount++;
  }

  // ---- state ----

  saveState(): Uart16550State {
    const rx: number[] = [];
    for (let i = 0; i < this.rxCount; i++) rx.push(this.rxFifo[(this.rxHead + i) % UART_FIFO_SIZE]);
    return {
      version: 1,
      dll: this.dll,
      dlm: this.dlm,
      ier: this.ier,
      lcr: this.lcr,
      mcr: this.mcr,
      scr: this.scr,
      fcr: this.fcr,
      lsrErrors: this.lsrErrors,
      msrDeltas: this.msrDeltas,
      thrEmptyPending: this.thrEmptyPending,
      rx,
    };
  }

  /** Restores saved state (validated first; nothing changes when it is invalid). */
  loadState(state: unknown): void {
    const name = 'UART 16550';
    const rec = stateRecord(name, state, 1);
    rejectUnknownFields(name, rec, [
      'version', 'dll', 'dlm', 'ier', 'lcr', 'mcr', 'scr', 'fcr', 'lsrErrors', 'msrDeltas', 'thrEmptyPending', 'rx',
    ]);
    const dll = intField(name, rec, 'dll', 0, 0xff);
    const dlm = intField(name, rec, 'dlm', 0, 0xff);
    const ier = intField(name, rec, 'ier', 0, 0x0f);
    const lcr = intField(name, rec, 'lcr', 0, 0xff);
    const mcr = intField(name, rec, 'mcr', 0, 0x1f);
    const scr = intField(name, rec, 'scr', 0, 0xff);
    const fcr = intField(name, rec, 'fcr', 0, 0xff);
    if ((fcr & ~0xc1) !== 0 || ((fcr & FCR_ENABLE) === 0 && fcr !== 0)) {
      throw new DeviceStateError(name, `field 'fcr' has invalid bits (${fcr})`);
    }
    const lsrErrors = intField(name, rec, 'lsrErrors', 0, 0xff);
    if ((lsrErrors & ~LSR_ERRORS) !== 0) throw new DeviceStateError(name, `field 'lsrErrors' has invalid bits`);
    const msrDeltas = intField(name, rec, 'msrDeltas', 0, 0x0f);
    const thrEmptyPending = boolField(name, rec, 'thrEmptyPending');
    const capacity = (fcr & FCR_ENABLE) !== 0 ? UART_FIFO_SIZE : 1;
    const rx = intArrayField(name, rec, 'rx', 0, 0xff, 0, capacity);

    this.dll = dll;
    this.dlm = dlm;
    this.ier = ier;
    this.lcr = lcr;
    this.mcr = mcr;
    this.scr = scr;
    this.fcr = fcr;
    this.lsrErrors = lsrErrors;
    this.msrDeltas = msrDeltas;
    this.thrEmptyPending = thrEmptyPending;
    this.rxHead = 0;
    this.rxCount = 0;
    for (const b of rx) this.pushRx(b);
    // Re-send the line so the interrupt controller matches the restored device.
    this.irqLevel = this.interruptId() !== IIR_NO_INT;
    this.interrupt(this.irqLevel);
  }
}
