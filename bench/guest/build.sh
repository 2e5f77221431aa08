#!/usr/bin/env bash
# Rebuilds the benchmark guest (the prebuilt compute.elf is committed, so this is only needed
# after changing compute.c). Needs Debian's gcc-riscv64-unknown-elf.
set -euo pipefail
cd "$(dirname "$0")"
command -v riscv64-unknown-elf-gcc >/dev/null || { echo "install gcc-riscv64-unknown-elf (apt-get install gcc-riscv64-unknown-elf)" >&2; exit 1; }
riscv64-unknown-elf-gcc -O2 -march=rv64gc -mabi=lp64d -mcmodel=medany -nostdlib -nostartfiles -ffreestanding \
  -DROUNDS=200 -T link.ld -o compute.elf start.S compute.c
# The same program with no work: QEMU's start-up time, subtracted from its figure in the benchmark.
riscv64-unknown-elf-gcc -O2 -march=rv64gc -mabi=lp64d -mcmodel=medany -nostdlib -nostartfiles -ffreestanding \
  -DROUNDS=0 -T link.ld -o empty.elf start.S compute.c
