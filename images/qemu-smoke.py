#!/usr/bin/env python3
"""Boot the default guest in QEMU without a person at the keyboard.

Runs images/default/boot-qemu.sh on a pseudo-terminal, waits for the shell prompt,
runs a few commands, powers off and checks that QEMU exits. Prints the time from
start to the first prompt and writes the whole console transcript to a file.

    images/qemu-smoke.py [--bios PATH] [--smp N] [--log FILE] [--timeout S]
                         [--leave poweroff|exit] [--run CMD]... [-- extra qemu args]
"""
import argparse
import os
import pty
import re
import select
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROMPT = b"~ # "


class Console:
    def __init__(self, argv, env, log):
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                                     env=env, start_new_session=True, close_fds=True)
        os.close(slave)
        self.buf = b""
        self.log = log
        self.start = time.monotonic()

    def _read(self, timeout):
        r, _, _ = select.select([self.master], [], [], timeout)
        if not r:
            return False
        try:
            data = os.read(self.master, 65536)
        except OSError:  # the other side closed
            data = b""
        if not data:
            raise EOFError
        self.log.write(data)
        self.log.flush()
        self.buf += data
        return True

    def expect(self, pattern, timeout):
        """Wait for pattern (bytes regex); return the text before and including it."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            m = rx.search(self.buf)
            if m:
                out = self.buf[:m.end()]
                self.buf = self.buf[m.end():]
                return out
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"timed out waiting for {pattern!r}; last output: {self.buf[-300:]!r}")
            self._read(min(left, 1.0))

    def send(self, text):
        os.write(self.master, text.encode())

    def run(self, cmd, timeout=60):
        """Run a shell command; return its output (between two markers)."""
        marker = f"@@{int(time.monotonic() * 1000) % 100000}@@"
        # The marker is split in the command line so that the echoed command does not match.
        self.send(f"{cmd}; echo '{marker[:2]}''{marker[2:]}'\r")
        out = self.expect(re.escape(marker.encode()) + rb"\r*\n", timeout)
        self.expect(re.escape(PROMPT), timeout)
        text = out.decode(errors="replace").replace("\r", "")
        lines = text.split("\n")
        return "\n".join(lines[1:-2]) if len(lines) > 2 else ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bios", help="firmware for qemu -bios (default: QEMU's own OpenSBI)")
    ap.add_argument("--smp", type=int, default=2)
    ap.add_argument("--log", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "tsvm-qemu-smoke.log"))
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--leave", choices=["poweroff", "exit"], default="poweroff",
                    help="how to end: the poweroff command, or leaving the shell")
    ap.add_argument("--run", action="append", default=[], help="an extra command to run and print")
    ap.add_argument("qemu_args", nargs="*", help="extra arguments for QEMU (after --)")
    args = ap.parse_args()

    env = dict(os.environ, SMP=str(args.smp))
    if args.bios:
        env["BIOS"] = args.bios
    else:
        env.pop("BIOS", None)

    with open(args.log, "wb") as log:
        con = Console([os.path.join(HERE, "default", "boot-qemu.sh")] + args.qemu_args, env, log)
        failures = []
        try:
            con.expect(re.escape(PROMPT), args.timeout)
            to_prompt = time.monotonic() - con.start
            print(f"prompt after {to_prompt:.2f} s")
            uname = con.run("uname -a")
            print("uname -a:", uname)
            nproc = con.run("nproc").strip()
            print("nproc:", nproc)
            if nproc != str(args.smp):
                failures.append(f"nproc is {nproc}, expected {args.smp}")
            cpuinfo = con.run("cat /proc/cpuinfo")
            print("cpuinfo:\n" + cpuinfo)
            if cpuinfo.count("processor") != args.smp:
                failures.append("/proc/cpuinfo does not list every hart")
            print("hostname:", con.run("hostname"))
            print("mounts:\n" + con.run("cat /proc/mounts"))
            print("dmesg | tail:\n" + con.run("dmesg | tail -n 8"))
            print("date:", con.run("date"))
            print("tty:", con.run("tty"))
            for cmd in args.run:
                print(f"{cmd}:\n" + con.run(cmd))
            # Job control: ^C must reach a foreground command.
            con.send("sleep 30\r")
            time.sleep(0.5)
            con.send("\x03")
            con.expect(re.escape(PROMPT), 10)
            print("^C interrupted a foreground command")
            con.send(args.leave + "\r")
            t0 = time.monotonic()
            try:
                while True:
                    if con.proc.poll() is not None:
                        break
                    if time.monotonic() - t0 > 30:
                        raise TimeoutError("QEMU did not exit after poweroff")
                    con._read(0.5)
            except EOFError:
                pass
            rc = con.proc.wait(timeout=30)
            print(f"QEMU exited with {rc} {time.monotonic() - t0:.2f} s after '{args.leave}'")
            if rc != 0:
                failures.append(f"QEMU exit status {rc}")
        except (TimeoutError, EOFError) as e:
            failures.append(str(e) or "console closed early")
        finally:
            if con.proc.poll() is None:
                os.killpg(con.proc.pid, 9)
                con.proc.wait()
    print(f"transcript: {args.log}")
    if failures:
        print("FAILED: " + "; ".join(failures))
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
