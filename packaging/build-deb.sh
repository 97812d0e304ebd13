#!/bin/sh
# Builds the Debian package from this source tree:
#
#   packaging/build-deb.sh [-v VERSION] OUTDIR
#
# dpkg-buildpackage wants debian/ at the top of the tree and writes beside
# it, so the tree is copied (without build folders and .git) to a temporary
# folder, packaging/debian is linked there as debian, and
# `dpkg-buildpackage -us -uc -b` builds it without running the tests.  The
# .deb, .buildinfo, .changes and the build log land in OUTDIR.  -v VERSION first adds a
# changelog entry with that version (the upgrade test builds a newer one).
set -eu

usage() {
	echo "usage: packaging/build-deb.sh [-v VERSION] OUTDIR" >&2
	exit 2
}

version=
while getopts v: opt; do
	case $opt in
	v) version=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || usage
mkdir -p "$1"
out=$(cd "$1" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
for tool in dpkg-buildpackage dh meson; do
	command -v $tool >/dev/null || {
		echo "build-deb: $tool is missing (apt-get install dpkg-dev debhelper meson)" >&2
		exit 1
	}
done

tmp=$(mktemp -d /tmp/xgw-deb.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/xgw"
tar -C "$top" --exclude='./build*' --exclude=./.git -cf - . | tar -C "$tmp/xgw" -xf -
ln -s packaging/debian "$tmp/xgw/debian"
if [ -n "$version" ]; then
	{
		printf 'xgw (%s) unstable; urgency=medium\n\n' "$version"
		printf '  * Rebuilt by packaging/build-deb.sh -v %s.\n\n' "$version"
		printf ' -- xgw developers <xgw@example.org>  %s\n\n' "$(date -R)"
		cat "$tmp/xgw/packaging/debian/changelog"
	} >"$tmp/changelog"
	mv "$tmp/changelog" "$tmp/xgw/packaging/debian/changelog"
fi
(
	cd "$tmp/xgw"
	DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" dpkg-buildpackage -us -uc -b
) >"$tmp/build.log" 2>&1 || {
	tail -40 "$tmp/build.log" >&2
	echo "build-deb: dpkg-buildpackage failed (the last 40 lines above)" >&2
	exit 1
}
cp "$tmp"/*.deb "$tmp"/*.buildinfo "$tmp"/*.changes "$out/"
cp "$tmp/build.log" "$out/xgw-build.log"
ls "$out"/*.deb
