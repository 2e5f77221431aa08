#!/usr/bin/env bash
# Rebuilds the SMP firmware test (the prebuilt .bin is committed). Needs gcc-riscv64-unknown-elf.
set -euo pipefail
cd "$(dirname "$0")"
riscv64-unknown-elf-gcc -march=rv64gc -mabi=lp64d -nostdlib -nostartfiles -static -mno-relax -Wl,--no-relax -Wl,-Ttext=0x80000000 -o smp_atomics.elf smp_atomics.S
riscv64-unknown-elf-objcopy -O binary smp_atomics.elf smp_atomics.bin
rm -f smp_atomics.elf
