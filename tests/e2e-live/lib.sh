# Shared by the live replay tests (bash; sourced after tests/e2e/lib.sh).
#
#   live_setup NAME          $t (a fresh folder), cleanup on exit, die and ok
#   live RUN WANT-RC ARGS... xgw-replay ARGS, its output kept as RUN
#   has RUN TEXT             RUN printed a line holding TEXT (fixed string)
#   hasnt RUN TEXT           RUN printed no such line
#   counts RUN TEXT          has RUN "TEXT": the summary's figures, as a whole
#   elapsed_ms RUN           the replay's own duration, from its summary
#   capture PROTO FILE       the path of a corpus capture, or die
#
# Needs $replay, $pcaps and the array pids (processes to stop at exit).

live_setup() {
	name=$1
	t=$(mktemp -d "/tmp/xgw-$name.XXXXXX")
	fail=0
	trap live_cleanup EXIT
}

live_cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ "$(type -t live_stop)" = function ] && live_stop
	[ $fail -eq 0 ] && rm -rf "$t"
}

die() {
	echo "$name: FAIL: $*" >&2
	[ "$(type -t live_logs)" = function ] && live_logs >&2
	fail=1
	exit 1
}

ok() { echo "$name: ok: $*"; }

live() {
	local run=$1 want=$2 rc
	shift 2
	"$replay" "$@" >"$t/$run.out" 2>"$t/$run.err"
	rc=$?
	[ $rc -eq "$want" ] ||
		die "$run: exit $rc, expected $want; output:$(printf '\n'; cat "$t/$run.out" "$t/$run.err")"
}

has() {
	grep -qF -- "$2" "$t/$1.out" ||
		die "$1: no line with '$2' in:$(printf '\n'; cat "$t/$1.out")"
}

hasnt() {
	! grep -qF -- "$2" "$t/$1.out" ||
		die "$1: unexpected '$2' in:$(printf '\n'; cat "$t/$1.out")"
}

counts() { has "$1" "s: $2"; }

elapsed_ms() {
	sed -n 's/^  exchanges [0-9]* in [0-9]* flows, \([0-9]*\)\.\([0-9]*\) s:.*/\1\2/p' \
		"$t/$1.out" | sed 's/^0*\([0-9]\)/\1/'
}

capture() {
	local f=$pcaps/$1/$2
	[ -f "$f" ] || die "capture $f is missing (meson setup -Dpcaps=DIR)"
	echo "$f"
}
