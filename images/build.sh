#!/bin/bash
# Build tsvm's default guest (Linux kernel + busybox initramfs) from Debian sources.
#
# Run as root on Debian bookworm. Everything is built in a work directory outside the
# repository; only the final artifacts are written to images/default/.
#
#   images/build.sh                 # everything: deps, kernel, busybox, initramfs, sums
#   images/build.sh kernel          # one or more stages: deps kernel busybox initramfs sums
#   images/build.sh --regen-config  # rebuild images/linux.config from linux-fragment.config
#
# Environment:
#   TSVM_IMAGE_WORK    work directory       (default /var/tmp/tsvm-image-build)
#   TSVM_IMAGE_OUT     artifact directory   (default images/default)
#   JOBS               parallel make jobs   (default 2)
#   SOURCE_DATE_EPOCH  timestamp baked into the kernel and the cpio (default below)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=${TSVM_IMAGE_WORK:-/var/tmp/tsvm-image-build}
OUT=${TSVM_IMAGE_OUT:-$HERE/default}
JOBS=${JOBS:-2}
# 2023-11-14T22:13:20Z. Fixed so that rebuilding gives the same bytes.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}

CROSS=riscv64-linux-gnu-
KSRC=$WORK/linux
BBSRC=$WORK/busybox
ROOTFS=$WORK/rootfs

export ARCH=riscv
export CROSS_COMPILE=$CROSS
export KBUILD_BUILD_USER=tsvm
export KBUILD_BUILD_HOST=tsvm
export KBUILD_BUILD_VERSION=1
KBUILD_BUILD_TIMESTAMP=$(LC_ALL=C date -u -d "@$SOURCE_DATE_EPOCH")
export KBUILD_BUILD_TIMESTAMP
export LC_ALL=C
export TZ=UTC

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------
# deps: toolchain, kernel source, build tools; a deb-src entry so `apt-get source` works
# ---------------------------------------------------------------------------------

# Print deb-src counterparts of the configured Debian `deb` entries (both formats).
derive_deb_src() {
    local f
    if [ -f /etc/apt/sources.list ]; then
        sed -n 's/^[[:space:]]*deb[[:space:]]\+/deb-src /p' /etc/apt/sources.list
    fi
    for f in /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        sed -n 's/^[[:space:]]*deb[[:space:]]\+/deb-src /p' "$f"
    done
}

derive_deb_src_822() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # Each paragraph whose Types has "deb" becomes a deb-src paragraph with the
        # same URIs, Suites, Components and Signed-By.
        awk '
            BEGIN { RS = ""; FS = "\n" }
            {
                types = ""; body = ""; enabled = 1
                for (i = 1; i <= NF; i++) {
                    line = $i
                    if (line ~ /^#/) continue
                    if (line ~ /^Types:/) { types = line; continue }
                    if (line ~ /^Enabled:[[:space:]]*no/) enabled = 0
                    body = body line "\n"
                }
                if (enabled && types ~ /(^Types:|[[:space:]])deb([[:space:]]|$)/)
                    printf "Types: deb-src\n%s\n", body
            }' "$f"
    done
}

have_deb_src() {
    grep -rqsE '^[[:space:]]*deb-src[[:space:]]|^Types:.*deb-src' \
        /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null
}

stage_deps() {
    [ "$(id -u)" = 0 ] || die "deps: run as root (apt-get)"
    if ! have_deb_src; then
        local out822 outlist
        out822=$(derive_deb_src_822)
        outlist=$(derive_deb_src)
        if [ -n "$out822" ]; then
            log "adding deb-src entries: /etc/apt/sources.list.d/tsvm-deb-src.sources"
            printf '%s\n' "$out822" > /etc/apt/sources.list.d/tsvm-deb-src.sources
        fi
        if [ -n "$outlist" ]; then
            log "adding deb-src entries: /etc/apt/sources.list.d/tsvm-deb-src.list"
            printf '%s\n' "$outlist" > /etc/apt/sources.list.d/tsvm-deb-src.list
        fi
        [ -n "$out822$outlist" ] || die "deps: no Debian 'deb' entry found to derive deb-src from"
    fi
    log "apt-get update / install"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        gcc-riscv64-linux-gnu libc6-dev-riscv64-cross linux-source-6.1 \
        bc bison flex libssl-dev libelf-dev cpio xz-utils gzip make gcc libc6-dev \
        dpkg-dev
}

# ---------------------------------------------------------------------------------
# kernel
# ---------------------------------------------------------------------------------
unpack_kernel() {
    local tarball
    tarball=$(ls /usr/src/linux-source-6.1.tar.xz 2>/dev/null) || die "linux-source-6.1 not installed (run the deps stage)"
    if [ ! -f "$KSRC/.tsvm-unpacked" ] || [ "$tarball" -nt "$KSRC/.tsvm-unpacked" ]; then
        log "unpacking $tarball"
        rm -rf "$KSRC" "$WORK/linux-source-6.1"
        mkdir -p "$WORK"
        tar -C "$WORK" -xf "$tarball"
        mv "$WORK/linux-source-6.1" "$KSRC"
        touch "$KSRC/.tsvm-unpacked"
    fi
}

# Check that every line of the fragment holds in $KSRC/.config.
check_fragment() {
    local line sym bad=0
    while IFS= read -r line; do
        case "$line" in
            "# CONFIG_"*" is not set")
                sym=${line#\# }; sym=${sym%% *}
                if grep -q "^$sym=" "$KSRC/.config"; then
                    echo "config: $sym should be off" >&2; bad=1
                fi ;;
            CONFIG_*)
                if ! grep -qxF "$line" "$KSRC/.config"; then
                    echo "config: wanted $line" >&2; bad=1
                fi ;;
        esac
    done < "$HERE/linux-fragment.config"
    return $bad
}

regen_config() {
    unpack_kernel
    log "regenerating images/linux.config from linux-fragment.config"
    make -C "$KSRC" KCONFIG_ALLCONFIG="$HERE/linux-fragment.config" allnoconfig
    make -C "$KSRC" olddefconfig
    check_fragment || die "fragment settings did not survive olddefconfig (dependencies?)"
    cp "$KSRC/.config" "$HERE/linux.config"
}

stage_kernel() {
    unpack_kernel
    cp "$HERE/linux.config" "$KSRC/.config"
    make -C "$KSRC" olddefconfig
    # Toolchain probes (CONFIG_CC_*, CONFIG_LD_*, ...) may differ with the installed
    # compiler and libc; anything else differing means linux.config is stale.
    local probes='^(# )?CONFIG_(CC|AS|LD|LLD|GCC|CLANG|RUSTC|PAHOLE|TOOLCHAIN)_'
    if ! diff -q <(grep -Ev "$probes" "$HERE/linux.config") \
                 <(grep -Ev "$probes" "$KSRC/.config") >/dev/null; then
        diff -u "$HERE/linux.config" "$KSRC/.config" >&2 || true
        die "images/linux.config is not a complete config for this kernel (run --regen-config)"
    fi
    if ! cmp -s "$HERE/linux.config" "$KSRC/.config"; then
        echo "note: toolchain-probe lines of linux.config differ from this toolchain:" >&2
        diff "$HERE/linux.config" "$KSRC/.config" >&2 || true
    fi
    log "building Linux $(make -s -C "$KSRC" kernelversion) (make -j$JOBS Image)"
    make -C "$KSRC" -j"$JOBS" Image
    mkdir -p "$OUT"
    gzip -9 -n -c "$KSRC/arch/riscv/boot/Image" > "$OUT/Image.gz"
}

# ---------------------------------------------------------------------------------
# busybox (Debian source package, static, riscv64)
# ---------------------------------------------------------------------------------
fetch_busybox() {
    if [ -f "$BBSRC/.tsvm-unpacked" ]; then return; fi
    log "apt-get source busybox"
    rm -rf "$WORK/bbsrc" "$BBSRC"
    mkdir -p "$WORK/bbsrc"
    # Let apt's unprivileged download user write there (avoids the "unsandboxed" warning).
    if id _apt >/dev/null 2>&1; then chown _apt "$WORK/bbsrc"; fi
    (cd "$WORK/bbsrc" && apt-get source busybox)
    local dir
    dir=$(find "$WORK/bbsrc" -mindepth 1 -maxdepth 1 -type d -name 'busybox-*' | head -n1)
    [ -n "$dir" ] || die "apt-get source busybox produced no source tree"
    mv "$dir" "$BBSRC"
    touch "$BBSRC/.tsvm-unpacked"
}

# set_bb_opt NAME VALUE   (VALUE "n" removes the option)
set_bb_opt() {
    local cfg=$BBSRC/.config name=$1 val=$2
    sed -i -e "/^CONFIG_$name=/d" -e "/^# CONFIG_$name is not set/d" "$cfg"
    if [ "$val" = n ]; then
        echo "# CONFIG_$name is not set" >> "$cfg"
    else
        echo "CONFIG_$name=$val" >> "$cfg"
    fi
}

stage_busybox() {
    fetch_busybox
    log "configuring busybox (defconfig + static)"
    make -C "$BBSRC" defconfig >/dev/null
    set_bb_opt STATIC y
    set_bb_opt CROSS_COMPILER_PREFIX "\"$CROSS\""
    set_bb_opt EXTRA_CFLAGS '""'
    # Applets that do not build or make no sense against static glibc / this guest.
    set_bb_opt TC n               # uses kernel headers that newer kernels removed
    set_bb_opt FEATURE_TC_INGRESS n
    set_bb_opt NSENTER n
    # Build-host details that would otherwise leak into the binary.
    set_bb_opt FEATURE_COMPRESS_USAGE y
    { yes '' || true; } | make -C "$BBSRC" oldconfig >/dev/null
    log "building busybox $(busybox_version)"
    make -C "$BBSRC" -j"$JOBS" KCONFIG_NOTIMESTAMP=1 busybox
    file "$BBSRC/busybox" 2>/dev/null || true
}

busybox_version() {
    local v p s
    v=$(sed -n 's/^VERSION = //p' "$BBSRC/Makefile")
    p=$(sed -n 's/^PATCHLEVEL = //p' "$BBSRC/Makefile")
    s=$(sed -n 's/^SUBLEVEL = //p' "$BBSRC/Makefile")
    echo "$v.$p.$s"
}

# ---------------------------------------------------------------------------------
# initramfs
# ---------------------------------------------------------------------------------
stage_initramfs() {
    [ -x "$BBSRC/busybox" ] || die "busybox not built (run the busybox stage)"
    [ -f "$KSRC/usr/gen_init_cpio.c" ] || die "kernel source missing (run the kernel stage)"
    log "assembling the root file system"
    rm -rf "$ROOTFS"
    mkdir -p "$ROOTFS"
    make -C "$BBSRC" CONFIG_PREFIX="$ROOTFS" install >/dev/null
    cp -a "$HERE/rootfs/." "$ROOTFS/"
    # Modes do not depend on the checkout's umask.
    find "$HERE/rootfs" -mindepth 1 -printf '%P\n' | while IFS= read -r p; do
        if [ -d "$ROOTFS/$p" ] || [ -x "$HERE/rootfs/$p" ]; then
            chmod 0755 "$ROOTFS/$p"
        else
            chmod 0644 "$ROOTFS/$p"
        fi
    done
    chmod 0600 "$ROOTFS/etc/shadow"
    local d
    for d in proc sys dev tmp run data root mnt var var/log etc/init.d; do
        mkdir -p "$ROOTFS/$d"
    done
    # /var/run and /var/tmp point at the tmpfs mounts.
    ln -sfn ../run "$ROOTFS/var/run"
    ln -sfn ../tmp "$ROOTFS/var/tmp"

    log "writing initramfs.cpio.gz"
    cc -O2 -o "$WORK/gen_init_cpio" "$KSRC/usr/gen_init_cpio.c"
    # Every entry owned by root, mtime fixed, entries in sorted order.
    find "$ROOTFS" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
    {
        echo "dir /dev 0755 0 0"
        echo "nod /dev/console 0600 0 0 c 5 1"
        echo "nod /dev/null 0666 0 0 c 1 3"
        (cd "$ROOTFS" && find . -mindepth 1 | LC_ALL=C sort) | while IFS= read -r p; do
            local path=${p#.} src=$ROOTFS/${p#./} mode
            [ "$path" = /dev ] && continue
            mode=$(stat -c '%a' "$src")
            if [ -L "$src" ]; then
                echo "slink $path $(readlink "$src") 0777 0 0"
            elif [ -d "$src" ]; then
                echo "dir $path $mode 0 0"
            elif [ -f "$src" ]; then
                echo "file $path $src $mode 0 0"
            else
                die "unexpected file type: $src"
            fi
        done
    } > "$WORK/initramfs.list"
    mkdir -p "$OUT"
    "$WORK/gen_init_cpio" -t "$SOURCE_DATE_EPOCH" "$WORK/initramfs.list" | gzip -9 -n > "$OUT/initramfs.cpio.gz"
}

# ---------------------------------------------------------------------------------
# data disk: an empty 1 GiB ext4 file system (label "data"), compressed qcow2. `tsvm run --persist`
# (npm start) gives each user an overlay of it, which /init mounts on /data.
# ---------------------------------------------------------------------------------
stage_data() {
    log "building the data disk"
    command -v mkfs.ext4 >/dev/null && command -v qemu-img >/dev/null \
        || apt-get install -y -qq e2fsprogs qemu-utils >/dev/null
    local raw="$WORK/data.raw"
    rm -f "$raw"
    truncate -s 1G "$raw"
    # Fixed UUID, hash seed and time, so the image is the same on every build.
    E2FSPROGS_FAKE_TIME="$SOURCE_DATE_EPOCH" mkfs.ext4 -q -F -L data -U 7473766d-6461-7461-0000-000000000001 \
        -E root_owner=0:0,hash_seed=7473766d-6461-7461-0000-000000000002 "$raw"
    qemu-img convert -c -f raw -O qcow2 "$raw" "$OUT/data.qcow2"
    rm -f "$raw"
}

# ---------------------------------------------------------------------------------
# sums and build info
# ---------------------------------------------------------------------------------
stage_sums() {
    log "writing SHA256SUMS and BUILDINFO"
    (cd "$OUT" && sha256sum Image.gz initramfs.cpio.gz data.qcow2 > SHA256SUMS)
    {
        echo "linux_version=$(make -s -C "$KSRC" kernelversion)$(sed -n 's/^CONFIG_LOCALVERSION="\(.*\)"/\1/p' "$HERE/linux.config")"
        echo "linux_source_package=linux-source-6.1 $(dpkg-query -W -f='${Version}' linux-source-6.1)"
        echo "busybox_version=$(busybox_version)"
        echo "busybox_source_package=busybox $(sed -n '1s/^busybox (\([^)]*\)).*/\1/p' "$BBSRC/debian/changelog")"
        echo "gcc_package=gcc-riscv64-linux-gnu $(dpkg-query -W -f='${Version}' gcc-riscv64-linux-gnu)"
        echo "gcc_version=$(${CROSS}gcc -dumpfullversion)"
        echo "libc_package=libc6-dev-riscv64-cross $(dpkg-query -W -f='${Version}' libc6-dev-riscv64-cross)"
        echo "source_date_epoch=$SOURCE_DATE_EPOCH"
        echo "image_bytes=$(stat -c %s "$KSRC/arch/riscv/boot/Image")"
    } > "$OUT/BUILDINFO"
    cat "$OUT/BUILDINFO" "$OUT/SHA256SUMS"
}

# ---------------------------------------------------------------------------------
stages=()
for arg in "$@"; do
    case "$arg" in
        --regen-config) stages+=(regen) ;;
        deps|kernel|busybox|initramfs|data|sums) stages+=("$arg") ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) die "unknown argument: $arg" ;;
    esac
done
[ ${#stages[@]} -gt 0 ] || stages=(deps kernel busybox initramfs data sums)

mkdir -p "$WORK"
for s in "${stages[@]}"; do
    case "$s" in
        regen) regen_config ;;
        *) "stage_$s" ;;
    esac
done
log "done"
