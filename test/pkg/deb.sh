#!/bin/bash
# Builds the Debian package from a clean copy of the tree (git-tracked files
# plus the untracked, not ignored ones present), runs lintian, installs it on
# this machine with dpkg, checks files, permissions, the system user, the unit,
# conffile handling, then removes and purges it.
#
# Root; Debian 12. Installs the build dependencies it needs (apt-get build-dep).
# Prints ok / not ok lines; exits non-zero on any failure. KEEP=1 keeps the
# build directory. Starting services is blocked (policy-rc.d) while it runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
src=$PWD

fails=0
ok()    { echo "ok - $*"; }
notok() { echo "not ok - $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@" >/dev/null 2>&1; then ok "$what"; else notok "$what"; fi; }
t0=$SECONDS

[[ $(id -u) == 0 ]] || { echo "test/pkg/deb.sh: needs root (apt-get, dpkg -i)" >&2; exit 1; }
if dpkg-query -W -f='${Status}' dime 2>/dev/null | grep -q "ok installed"; then
	echo "test/pkg/deb.sh: the dime package is already installed here; remove it first" >&2
	exit 1
fi

work=$(mktemp -d /tmp/dime-deb.XXXXXX)
policy=/usr/sbin/policy-rc.d
own_policy=0
cleanup() {
	if dpkg-query -W -f='${Status}' dime 2>/dev/null | grep -q "installed"; then
		dpkg -P dime >/dev/null 2>&1 || true
	fi
	((own_policy)) && rm -f "$policy"
	[[ ${KEEP:-0} == 1 ]] && echo "# kept $work" || rm -rf "$work"
}
trap cleanup EXIT
# Never start dimed on the CI machine itself (deb-systemd-invoke honours it).
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 0755 "$policy"
	own_policy=1
fi

# --- a clean copy of the tree ------------------------------------------------
mkdir "$work/dime"
git -C "$src" ls-files -z --cached --others --exclude-standard |
	while IFS= read -r -d '' f; do [[ -e $f || -L $f ]] && printf '%s\0' "$f"; done |
	tar -c --null -T - -f - | tar -x -C "$work/dime"
check "clean copy of the tree has debian/ and no build directory" \
	test -f "$work/dime/debian/control" -a ! -e "$work/dime/build" -a ! -e "$work/dime/obj-x86_64-linux-gnu"

# --- build dependencies, build ------------------------------------------------
if ! (cd "$work/dime" && dpkg-checkbuilddeps) >/dev/null 2>&1 || ! command -v lintian >/dev/null; then
	echo "# installing build dependencies and lintian" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		build-essential devscripts lintian >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -qq "$work/dime" >/dev/null
fi
t1=$SECONDS
if (cd "$work/dime" && dpkg-buildpackage -us -uc -b -j"$(nproc)") >"$work/build.log" 2>&1; then
	ok "dpkg-buildpackage -us -uc -b ($((SECONDS - t1)) s)"
else
	notok "dpkg-buildpackage -us -uc -b"
	tail -30 "$work/build.log" | sed 's/^/# /'
	exit 1
fi
deb=$(ls "$work"/dime_*.deb)
check "built $(basename "$deb")" test -f "$deb"
check "hardening flags in the build (PIE, bindnow, fortify, stack protector)" \
	grep -q -- '-fstack-protector-strong.*-D_FORTIFY_SOURCE=2' "$work/build.log"
check "unit tests ran in the build" grep -qE '^Ok: +[1-9]' "$work/build.log"

# --- lintian: no errors or warnings (overrides carry their reasons) ----------
lintian --fail-on error,warning --suppress-tags-from-file /dev/null "$work"/dime_*.changes >"$work/lintian.log" 2>&1 &&
	lrc=0 || lrc=$?
if ((lrc == 0)) && ! grep -qE '^[EW]: ' "$work/lintian.log"; then
	ok "lintian: no errors or warnings ($(grep -c '^[IPX]: ' "$work/lintian.log" || true) info/pedantic tags)"
else
	notok "lintian: no errors or warnings"
	sed 's/^/# /' "$work/lintian.log"
fi

# --- install --------------------------------------------------------------------
if dpkg -i "$deb" >"$work/install.log" 2>&1; then
	ok "dpkg -i"
else
	DEBIAN_FRONTEND=noninteractive apt-get -f install -y -qq >>"$work/install.log" 2>&1 || true
	check "dpkg -i (after apt-get -f install)" dpkg-query -W -f='${Status}' dime
	grep -q "install ok installed" <(dpkg-query -W -f='${Status}' dime) || {
		sed 's/^/# /' "$work/install.log"; exit 1; }
fi

mode() { stat -c '%a %U:%G' "$1" 2>/dev/null; }
expect_mode() { # PATH MODE
	local m; m=$(mode "$1")
	if [[ $m == "$2 root:root" ]]; then ok "$1 $m"; else notok "$1: want $2 root:root, got '${m:-missing}'"; fi
}
expect_mode /usr/sbin/dimed 755
expect_mode /usr/bin/dimectl 755
expect_mode /lib/systemd/system/dimed.service 644
expect_mode /usr/share/dimed/dimed.nft 755
expect_mode /usr/share/dimed/dimed-queue.nft 755
expect_mode /etc/dimed/dimed.conf 644
expect_mode /usr/lib/modules-load.d/dimed.conf 644
expect_mode /usr/lib/sysusers.d/dimed.conf 644
expect_mode /usr/share/man/man8/dimed.8.gz 644
expect_mode /usr/share/man/man8/dimectl.8.gz 644
check "/etc/dimed/dimed.conf is a conffile" \
	bash -c "dpkg-query -W -f='\${Conffiles}' dime | grep -q '^ /etc/dimed/dimed.conf '"
check "/etc/dimed/dimed.conf is all comments" bash -c "! grep -qv '^\(#\|$\)' /etc/dimed/dimed.conf"
check "modules-load.d lists the netfilter modules" bash -c \
	'for m in nfnetlink_queue nft_compat xt_NFQUEUE xt_mark xt_comment nf_conntrack; do grep -qx $m /usr/lib/modules-load.d/dimed.conf || exit 1; done'
v=$(dimed --version 2>&1) && [[ $v == "dimed "* ]] && ok "dimed --version: $v" || notok "dimed --version: $v"
v=$(dimectl --version 2>&1) && [[ $v == "dimectl "* ]] && ok "dimectl --version: $v" || notok "dimectl --version: $v"
check "man dimed and man dimectl resolve" bash -c 'man -w dimed && man -w dimectl'
check "dimed reads the packaged paths (state /var/lib/dimed, socket /run/dimed)" \
	bash -c 'dimed --help | grep -q /var/lib/dimed && dimed --help | grep -q /run/dimed/dimed.sock'
u=$(getent passwd dimed || true)
if [[ $u =~ ^dimed:x:([0-9]+):([0-9]+):[^:]*:[^:]*:(/usr/sbin/nologin)$ ]] && ((BASH_REMATCH[1] < 1000)); then
	ok "system user dimed (uid ${BASH_REMATCH[1]}, nologin)"
else
	notok "system user dimed: '$u'"
fi
check "ruleset /usr/share/dimed/dimed.nft loads (nft -c, private netns)" \
	unshare -n nft -c -f /usr/share/dimed/dimed.nft
if out=$(systemd-analyze verify /lib/systemd/system/dimed.service 2>&1) && [[ -z $out ]]; then
	ok "systemd-analyze verify dimed.service"
else
	notok "systemd-analyze verify dimed.service"; echo "$out" | sed 's/^/# /'
fi
exposure=$(systemd-analyze security --offline=yes /lib/systemd/system/dimed.service 2>/dev/null |
	sed -n 's/.*Overall exposure level for dimed.service: *//p')
echo "# systemd-analyze security: $exposure"
case $exposure in
[0-3].[0-9]*) ok "exposure $exposure (OK or better)" ;;
*) notok "exposure '$exposure' (want below 4.0, OK or better)" ;;
esac

# --- conffile: a local change survives reinstalling ---------------------------
echo "# local change by test/pkg/deb.sh" >>/etc/dimed/dimed.conf
dpkg -i "$deb" >"$work/reinstall.log" 2>&1 </dev/null || true
check "reinstall keeps the changed conffile" grep -q "local change by test/pkg/deb.sh" /etc/dimed/dimed.conf

# --- remove, purge ------------------------------------------------------------
check "dpkg -r dime" dpkg -r dime
check "remove: binaries and unit gone" bash -c \
	'! test -e /usr/sbin/dimed && ! test -e /usr/bin/dimectl && ! test -e /lib/systemd/system/dimed.service'
check "remove: conffile kept" test -f /etc/dimed/dimed.conf
check "dpkg -P dime" dpkg -P dime
check "purge: /etc/dimed gone" bash -c '! test -e /etc/dimed'
check "purge: user and group dimed gone" bash -c '! getent passwd dimed && ! getent group dimed'
check "purge: /var/lib/dimed gone" bash -c '! test -e /var/lib/dimed && ! test -e /var/lib/private/dimed'
check "purge: package unknown to dpkg" bash -c "! dpkg-query -W -f='\${Status}' dime 2>/dev/null | grep -q installed"

echo "# total $((SECONDS - t0)) s"
((fails == 0)) && echo "# all passed" || echo "# $fails failed"
exit $((fails > 0))
