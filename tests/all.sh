#!/bin/sh
# The test command: installs what is needed, builds twice (plain, and with
# AddressSanitizer + UndefinedBehaviorSanitizer) and runs every meson test
# in both builds.  Ends with one line: "N passed, N failed, N skipped".
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
sh tests/deps.sh || exit 1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
status=0
for variant in plain sanitize; do
	dir=build-test-$variant
	opts=""
	[ $variant = sanitize ] && opts="-Db_sanitize=address,undefined -Db_lundef=false"
	rm -rf "$dir"
	# shellcheck disable=SC2086
	if ! meson setup "$dir" $opts >"$dir.setup.log" 2>&1; then
		cat "$dir.setup.log"
		status=1
		continue
	fi
	rm -f "$dir.setup.log"
	ninja -C "$dir" || { status=1; continue; }
	echo "== meson test ($variant build)"
	meson test -C "$dir" --print-errorlogs --num-processes 2 || status=1
done
python3 - build-test-plain build-test-sanitize <<'PY'
import json, os, sys
passed = failed = skipped = 0
for d in sys.argv[1:]:
    log = os.path.join(d, "meson-logs", "testlog.json")
    if not os.path.exists(log):
        failed += 1
        continue
    for line in open(log):
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
