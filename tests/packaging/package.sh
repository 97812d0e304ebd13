#!/bin/bash
# The Debian package, as a field engineer's machine sees it: built twice with
# packaging/build-deb.sh (the tree's version, then that version "+1"), then
# in a fresh Debian 12 made by debootstrap, from the mirror apt uses here:
#
#   install   programs, units, manual pages, docs and conffiles in place; the
#             xgw system user and group; /var/lib/xgw and /var/spool/xgw
#             owned by it, xgw.conf readable by root and xgw only; no unit
#             enabled; the programs run (their libraries came as
#             dependencies) and read the shipped files
#   upgrade   to "+1": a conffile the site changed is kept, state is kept
#   remove    programs gone; conffiles, state and the user kept
#   purge     conffiles, state, spool and the permission override gone; the
#             user stays (Debian does not reuse system uids)
#
# Also: no compiler warning in either build log.  Needs root, debootstrap,
# dpkg-dev, debhelper and the mirror.  No mount is made in the chroot, so
# removing it is safe.
#
#   package.sh SRCDIR
set -u
src=$(readlink -f "$1")
t=$(mktemp -d /tmp/xgw-package.XXXXXX)
root=$t/root
fail=0

cleanup() {
	[ $fail -eq 0 ] && rm -rf "$t"
}
trap cleanup EXIT

die() {
	echo "package: FAIL: $*" >&2
	echo "package: everything is in $t" >&2
	fail=1
	exit 1
}
ok() { echo "package: ok: $*"; }
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@" </dev/null; }
has() { in_root test "$@"; }

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot)"
for tool in debootstrap dpkg-buildpackage dh; do
	command -v $tool >/dev/null ||
		die "$tool is missing (apt-get install debootstrap dpkg-dev debhelper)"
done
mirror=${XGW_DEBIAN_MIRROR:-$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' \
	/etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | head -1 | tr -d ' ')}
[ -n "$mirror" ] || die "no Debian mirror in /etc/apt/sources.list*; set XGW_DEBIAN_MIRROR"

# Both builds and the chroot: the package's own version, then one above it.
v1=$(sed -n '1s/^xgw (\([^)]*\)).*/\1/p' "$src/packaging/debian/changelog")
v2=$v1+1
"$src/packaging/build-deb.sh" "$t/v1" >"$t/build1.out" 2>&1 ||
	die "build of $v1: $(tail -20 "$t/build1.out")"
"$src/packaging/build-deb.sh" -v "$v2" "$t/v2" >"$t/build2.out" 2>&1 ||
	die "build of $v2: $(tail -20 "$t/build2.out")"
deb1=$t/v1/xgw_${v1}_$(dpkg --print-architecture).deb
deb2=$t/v2/xgw_${v2}_$(dpkg --print-architecture).deb
[ -f "$deb1" ] && [ -f "$deb2" ] || die "no $deb1 or $deb2: $(ls "$t"/v1 "$t"/v2)"
warn=$(grep -h 'warning:' "$t/v1/xgw-build.log" "$t/v2/xgw-build.log" | sort -u)
[ -z "$warn" ] || die "the package build warns (Debian's flags add _FORTIFY_SOURCE): $warn"
ok "dpkg-buildpackage -us -uc -b built $v1 and $v2 without a warning"

debootstrap --variant=minbase bookworm "$root" "$mirror" >"$t/debootstrap.log" 2>&1 ||
	die "debootstrap bookworm from $mirror: $(tail -5 "$t/debootstrap.log")"
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp "$deb1" "$deb2" "$root/tmp/"
in_root apt-get update -qq >"$t/apt.log" 2>&1 || die "apt-get update in the chroot: $(tail -5 "$t/apt.log")"
ok "a Debian 12 chroot from $mirror"

# install
in_root apt-get install -y -qq --no-install-recommends "/tmp/${deb1##*/}" >>"$t/apt.log" 2>&1 ||
	die "apt-get install $v1: $(tail -10 "$t/apt.log")"
[ "$(in_root dpkg-query -W -f='${Version} ${Status}' xgw)" = "$v1 install ok installed" ] ||
	die "xgw $v1 is not installed: $(in_root dpkg-query -W -f='${Version} ${Status}' xgw)"
for f in /usr/sbin/xgwd /usr/sbin/xgw-broker /usr/bin/xgwctl /usr/bin/xgw-replay \
	/usr/libexec/xgw/xgw-modbus /lib/systemd/system/xgwd.service \
	/lib/systemd/system/xgw-broker.service /usr/share/man/man8/xgwd.8.gz \
	/usr/share/man/man8/xgw-broker.8.gz /usr/share/man/man8/xgwctl.8.gz \
	/usr/share/man/man1/xgw-replay.1.gz /usr/share/man/man5/xgw.conf.5.gz \
	/usr/share/man/man5/xgw-rules.5.gz /usr/share/doc/xgw/WALKTHROUGH.md.gz \
	/usr/share/doc/xgw/examples/scada-readonly.rules; do
	has -f "$f" || die "$f is not installed"
done
conffiles=$(in_root dpkg-query -W -f='${Conffiles}\n' xgw | awk 'NF { print $1 }' | sort | tr '\n' ' ')
[ "$conffiles" = "/etc/xgw/xgw-broker.env /etc/xgw/xgw.conf /etc/xgw/xgw.rules " ] ||
	die "conffiles are: $conffiles"
pw=$(in_root getent passwd xgw) || die "no user xgw"
IFS=: read -r _ _ uid gid _ home shell <<<"$pw"
[ "$uid" -lt 1000 ] && [ "$shell" = /usr/sbin/nologin ] && [ "$home" = /var/lib/xgw ] ||
	die "xgw is not a system user without a shell: $pw"
[ "$(in_root getent group xgw | cut -d: -f3)" = "$gid" ] || die "xgw's primary group is not the group xgw"
for d in /var/lib/xgw /var/spool/xgw; do
	[ "$(in_root stat -c '%U:%G %a' "$d")" = "xgw:xgw 750" ] ||
		die "$d is $(in_root stat -c '%U:%G %a' "$d"), expected xgw:xgw 750"
done
[ "$(in_root stat -c '%U:%G %a' /etc/xgw/xgw.conf)" = "root:xgw 640" ] ||
	die "/etc/xgw/xgw.conf is $(in_root stat -c '%U:%G %a' /etc/xgw/xgw.conf), expected root:xgw 640"
! has -e /etc/systemd/system/multi-user.target.wants/xgwd.service ||
	die "xgwd.service was enabled at installation"
! has -e /etc/systemd/system/multi-user.target.wants/xgw-broker.service ||
	die "xgw-broker.service was enabled at installation"
in_root xgwd -n -f /etc/xgw/xgw.conf >"$t/xgwd-n.out" 2>&1 || die "xgwd -n: $(cat "$t/xgwd-n.out")"
grep -qx 'rules "/etc/xgw/xgw.rules"' "$t/xgwd-n.out" || die "xgwd -n printed: $(cat "$t/xgwd-n.out")"
in_root xgwctl check /etc/xgw/xgw.rules >"$t/check.out" 2>&1 || die "xgwctl check: $(cat "$t/check.out")"
in_root xgwctl check /usr/share/doc/xgw/examples/scada-readonly.rules >"$t/check.out" 2>&1 ||
	die "xgwctl check scada-readonly.rules: $(cat "$t/check.out")"
for p in "$root"/usr/sbin/xgwd "$root"/usr/sbin/xgw-broker "$root"/usr/bin/xgwctl \
	"$root"/usr/bin/xgw-replay "$root"/usr/libexec/xgw/xgw-*; do
	! in_root ldd "${p#"$root"}" | grep 'not found' || die "$p: a library is missing"
done
echo secret >"$root/tmp/secret"
in_root xgw-broker -n -k /tmp/secret -d /tmp/broker.db >"$t/broker.out" 2>&1 ||
	die "xgw-broker -n: $(cat "$t/broker.out")"
ok "installed: files, conffiles, user xgw (uid $uid), directories, nothing enabled, programs run"

# upgrade, with state and a site change to a conffile
echo "# site change $$" >>"$root/etc/xgw/xgw.rules"
echo urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e >"$root/var/lib/xgw/gateway-uuid"
echo event >"$root/var/spool/xgw/seg-00000000000000000001.log"
in_root dpkg -i "/tmp/${deb2##*/}" >"$t/upgrade.log" 2>&1 || die "dpkg -i $v2: $(tail -10 "$t/upgrade.log")"
[ "$(in_root dpkg-query -W -f='${Version}' xgw)" = "$v2" ] || die "not upgraded to $v2"
grep -qx "# site change $$" "$root/etc/xgw/xgw.rules" || die "the upgrade lost a change to xgw.rules"
has -s /var/lib/xgw/gateway-uuid && has -s /var/spool/xgw/seg-00000000000000000001.log ||
	die "the upgrade lost state"
[ "$(in_root getent passwd xgw | cut -d: -f3)" = "$uid" ] || die "the upgrade changed xgw's uid"
[ "$(in_root stat -c '%U:%G %a' /etc/xgw/xgw.conf)" = "root:xgw 640" ] ||
	die "the upgrade changed xgw.conf's permissions"
ok "upgraded to $v2: the changed conffile, the state and the user kept"

# remove
in_root dpkg -r xgw >"$t/remove.log" 2>&1 || die "dpkg -r: $(tail -10 "$t/remove.log")"
[ "$(in_root dpkg-query -W -f='${Status}' xgw)" = "deinstall ok config-files" ] ||
	die "after dpkg -r: $(in_root dpkg-query -W -f='${Status}' xgw)"
! has -e /usr/sbin/xgwd && ! has -e /usr/libexec/xgw/xgw-modbus || die "dpkg -r left programs"
has -f /etc/xgw/xgw.conf && grep -qx "# site change $$" "$root/etc/xgw/xgw.rules" ||
	die "dpkg -r removed conffiles"
has -s /var/lib/xgw/gateway-uuid && in_root getent passwd xgw >/dev/null ||
	die "dpkg -r removed state or the user"
ok "removed: programs gone; conffiles, state and user kept"

# purge
in_root dpkg -P xgw >"$t/purge.log" 2>&1 || die "dpkg -P: $(tail -10 "$t/purge.log")"
! in_root dpkg-query -W xgw >/dev/null 2>&1 ||
	die "after dpkg -P: $(in_root dpkg-query -W -f='${Status}' xgw)"
for p in /etc/xgw /var/lib/xgw /var/spool/xgw; do
	! has -e "$p" || die "dpkg -P left $p: $(in_root ls -la "$p")"
done
! in_root dpkg-statoverride --list /etc/xgw/xgw.conf >/dev/null || die "dpkg -P left the override of xgw.conf"
in_root getent passwd xgw >/dev/null || die "dpkg -P removed the user xgw"
ok "purged: conffiles, state, spool and override gone; the user xgw stays"
echo "package: all passed"
