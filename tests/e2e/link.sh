#!/bin/sh
# Runs the XMPP link's end-to-end test against two throwaway Prosody
# servers (one with TLS, one offering none) and always stops them.
# Usage: link.sh TEST_BINARY PROSODY_SH
set -u
test_bin=$1
prosody_sh=$2
dir=$(mktemp -d "${TMPDIR:-/tmp}/xgw-e2e-link.XXXXXX") || exit 1
cleanup() {
	"$prosody_sh" stop "$dir/tls"
	"$prosody_sh" stop "$dir/plain"
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
"$prosody_sh" start "$dir/tls" || exit 1
"$prosody_sh" start "$dir/plain" plain || exit 1
XGW_E2E_ENV=$dir/tls/env XGW_E2E_PLAIN_ENV=$dir/plain/env \
	XGW_PROSODY_SH=$prosody_sh "$test_bin"
