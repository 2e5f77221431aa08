#!/usr/bin/env bash
# Rebuild the guest programs of test/e2e/jit-smc.test.ts into bin/ (committed, so tests compile
# nothing for RISC-V): prog0..3.elf from prog.S (same layout, different immediates; the table
# below must match VARIANTS in jit-smc.test.ts) and selfmod.elf from selfmod.S.
# Needs Debian's gcc-riscv64-linux-gnu.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CC="${RISCV_CC:-riscv64-linux-gnu-gcc}"
if ! command -v "$CC" >/dev/null 2>&1; then
  echo "error: $CC not found; install it with: apt-get install gcc-riscv64-linux-gnu" >&2
  exit 1
fi
# -N: one segment, not page-aligned in the file (a few hundred bytes), writable and executable.
flags=(-march=rv64gc -mabi=lp64d -nostdlib -static -s -Wl,-N -Wl,--build-id=none -Wl,--no-warn-rwx-segments)
mkdir -p "$here/bin"
#        id shift_a shift_b shift_c addend
variants=("0 13 7 17 5" "1 11 9 23 -77" "2 21 35 4 1000" "3 5 27 31 -1")
for v in "${variants[@]}"; do
  read -r id a b c add <<<"$v"
  "$CC" "${flags[@]}" -DID="$id" -DSHIFT_A="$a" -DSHIFT_B="$b" -DSHIFT_C="$c" -DADDEND="$add" \
    "$here/prog.S" -o "$here/bin/prog$id.elf"
  echo "built bin/prog$id.elf"
done
"$CC" "${flags[@]}" "$here/selfmod.S" -o "$here/bin/selfmod.elf"
echo "built bin/selfmod.elf"
