#!/bin/sh
# Boot the default guest in QEMU's own `virt` machine: the reference that tsvm is
# compared against (boot time, behaviour).
#
#   images/default/boot-qemu.sh [extra qemu arguments...]
#
# Environment: SMP (default 2), MEM (256M), APPEND ("console=ttyS0"; may be set empty),
#              BIOS (firmware for -bios; default QEMU's bundled OpenSBI),
#              QEMU (qemu-system-riscv64).
# QEMU 7.2 cannot load a gzip-compressed kernel for riscv, so Image.gz is
# unpacked to a temporary file first.
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tsvm-qemu.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
gzip -dc "$dir/Image.gz" > "$tmp/Image"
set -- -M virt -m "${MEM:-256M}" -smp "${SMP:-2}" -nographic \
    ${BIOS:+-bios "$BIOS"} \
    -kernel "$tmp/Image" -initrd "$dir/initramfs.cpio.gz" \
    -append "${APPEND-console=ttyS0}" "$@"
"${QEMU:-qemu-system-riscv64}" "$@"
