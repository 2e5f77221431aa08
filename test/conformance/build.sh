#!/usr/bin/env bash
# Rebuild every conformance program (src/*.S) into bin/*.elf.
# A source file containing the line "// march: rv64g" is built without the C
# extension; all others with rv64gc.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CC="${RISCV_CC:-riscv64-unknown-elf-gcc}"
if ! command -v "$CC" >/dev/null 2>&1; then
  echo "error: $CC not found." >&2
  echo "Install the bare-metal RISC-V toolchain, e.g.: apt-get install gcc-riscv64-unknown-elf" >&2
  exit 1
fi
mkdir -p "$here/bin"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
status=0
for src in "$here"/src/*.S; do
  name="$(basename "$src" .S)"
  march=rv64gc
  if grep -q '^// march: rv64g$' "$src"; then march=rv64g; fi
  out="$here/bin/$name.elf"
  # assemble to an object with a stable name first, so the ELF (whose symbol
  # table names the object) is byte-for-byte reproducible
  if (cd "$tmp" &&
      "$CC" -march="$march" -mabi=lp64d -mcmodel=medany -I "$here/src" -c "$src" -o "$name.o" &&
      "$CC" -march="$march" -mabi=lp64d -nostdlib -nostartfiles -static -mcmodel=medany \
        -Wl,--no-warn-rwx-segments -T "$here/src/link.ld" -o "$out.tmp" "$name.o"); then
    mv "$out.tmp" "$out"
    echo "built bin/$name.elf ($march)"
  else
    rm -f "$out.tmp"
    echo "FAILED to build $src" >&2
    status=1
  fi
done
exit $status
