#!/usr/bin/env bash
# Fetch Debian's stock x86_64 kernel (a real bzImage) for the QEMU boot tests, without installing it.
#
# Usage: .ci/prepare-debian-kernel.sh DEST_DIR     (as root on Debian bookworm)
# Result: DEST_DIR/vmlinuz. Idempotent: does nothing when DEST_DIR/vmlinuz already exists.
#
# The package is whichever linux-image-6.1.*-amd64 the metapackage linux-image-amd64 currently
# depends on, so the script keeps working when Debian moves to a new ABI number.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 DEST_DIR" >&2
    exit 2
fi
dest=$1
if [ -s "$dest/vmlinuz" ]; then
    echo "prepare-debian-kernel: $dest/vmlinuz already present"
    exit 0
fi

pkg=$(apt-cache depends linux-image-amd64 2>/dev/null \
    | sed -n 's/^ *Depends: \(linux-image-6\.1\.[^ ]*-amd64\)$/\1/p' | head -n 1)
if [ -z "$pkg" ]; then
    apt-get update -qq
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null \
        | sed -n 's/^ *Depends: \(linux-image-6\.1\.[^ ]*-amd64\)$/\1/p' | head -n 1)
fi
if [ -z "$pkg" ]; then
    echo "prepare-debian-kernel: cannot resolve linux-image-amd64 to a linux-image-6.1.*-amd64 package" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt-get download drops privileges to _apt when it can: give it a directory it may write.
chmod 0777 "$work"
(cd "$work" && apt-get download -q "$pkg")
deb=$(ls "$work"/"$pkg"_*.deb | head -n 1)
dpkg-deb -x "$deb" "$work/root"
src=$(ls "$work"/root/boot/vmlinuz-* | head -n 1)
if [ ! -s "$src" ]; then
    echo "prepare-debian-kernel: $deb holds no boot/vmlinuz-*" >&2
    exit 1
fi
mkdir -p "$dest"
cp "$src" "$dest/vmlinuz.tmp.$$"
mv "$dest/vmlinuz.tmp.$$" "$dest/vmlinuz"
echo "prepare-debian-kernel: $pkg -> $dest/vmlinuz ($(basename "$src"))"
