#!/bin/bash
# Cross-build dime for arm64 on a Debian 12 amd64 host and run the unit tests
# under qemu-user. Installs what it needs (root): the arm64 architecture in dpkg,
# gcc-aarch64-linux-gnu, the arm64 -dev packages, qemu-user-static.
# Builds in build-arm64/ (CROSS_BUILDDIR to change; not BUILDDIR, which
# test/run uses for the main build: this script starts with rm -rf). Prints ok / not ok lines.
set -euo pipefail
cd "$(dirname "$0")/../.."

builddir=${CROSS_BUILDDIR:-build-arm64}
fails=0
ok()    { echo "ok - $*"; }
notok() { echo "not ok - $*"; fails=$((fails + 1)); }
t0=$SECONDS

[[ $(id -u) == 0 ]] || { echo "test/cross/arm64.sh: needs root (apt-get)" >&2; exit 1; }

# --- dependencies -----------------------------------------------------------
need=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static meson ninja-build pkg-config python3
      libnetfilter-queue-dev:arm64 libmnl-dev:arm64 libsodium-dev:arm64 libnfnetlink-dev:arm64)
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	dpkg --add-architecture arm64
	fresh=1
fi
missing=()
for p in "${need[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "# installing ${missing[*]}" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
elif [[ ${fresh:-0} == 1 ]]; then
	apt-get update -qq
fi
ok "arm64 toolchain and libraries installed ($((SECONDS - t0)) s)"

# --- build ------------------------------------------------------------------
t1=$SECONDS
rm -rf "$builddir"
if meson setup "$builddir" --cross-file test/cross/arm64.ini -Dwerror=true >"$builddir.setup.log" 2>&1 &&
   meson compile -C "$builddir" >"$builddir.compile.log" 2>&1; then
	ok "cross build ($((SECONDS - t1)) s)"
else
	notok "cross build (see $builddir.setup.log, $builddir.compile.log)"
	tail -20 "$builddir.setup.log" "$builddir.compile.log" 2>/dev/null | sed 's/^/# /' || true
	exit 1
fi
rm -f "$builddir.setup.log" "$builddir.compile.log"

for exe in "$builddir/src/dimed" "$builddir/src/dimectl"; do
	if file -b "$exe" | grep -q 'ARM aarch64'; then
		ok "$(basename "$exe") is an aarch64 ELF"
	else
		notok "$(basename "$exe") is an aarch64 ELF: $(file -b "$exe")"
	fi
done
if out=$(qemu-aarch64-static "$builddir/src/dimed" --version 2>&1) && [[ $out == "dimed "* ]]; then
	ok "dimed --version under qemu: $out"
else
	notok "dimed --version under qemu: $out"
fi

# --- unit tests under qemu-user (meson uses the cross file's exe_wrapper) ---
t2=$SECONDS
if meson test -C "$builddir" --suite unit --print-errorlogs >"$builddir/unit.log" 2>&1; then
	ok "unit tests under qemu-aarch64 ($(awk '/^Ok:/ {print $2}' "$builddir/unit.log") passed, $((SECONDS - t2)) s)"
else
	notok "unit tests under qemu-aarch64"
	sed 's/^/# /' "$builddir/unit.log" | tail -40
fi

echo "# total $((SECONDS - t0)) s"
exit $((fails > 0))
