# Shared by the live replay tests (bash; sourced after tests/e2e/lib.sh,
# whose test_setup gives $t, die and ok).
#
#   live RUN WANT-RC ARGS... xgw-replay ARGS, its output kept as RUN
#   has RUN TEXT             RUN printed a line holding TEXT (fixed string)
#   hasnt RUN TEXT           RUN printed no such line
#   counts RUN TEXT          has RUN "TEXT": the summary's figures, as a whole
#   lines RUN N REGEX        RUN printed exactly N lines matching REGEX
#   elapsed_ms RUN           the replay's own duration, from its summary
#   took RUN MIN MAX         that duration is MIN..MAX-1 ms (kept in $ms)
#   capture PROTO FILE       the path of a corpus capture, or die
#   pipelined_changed RUN    RUN's report on zeek__pipelined-requests.pcap
#                            against httpsim.py 2:type 3:close 4:body 5:404
#
# Needs $replay and $pcaps.

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

lines() {
	[ "$(grep -c -- "$3" "$t/$1.out")" -eq "$2" ] ||
		die "$1: expected $2 lines matching '$3':$(printf '\n'; cat "$t/$1.out")"
}

elapsed_ms() {
	sed -n 's/^  exchanges [0-9]* in [0-9]* flows, \([0-9]*\)\.\([0-9]*\) s:.*/\1\2/p' \
		"$t/$1.out" | sed 's/^0*\([0-9]\)/\1/'
}

took() {
	ms=$(elapsed_ms "$1")
	[ "$ms" -ge "$2" ] && [ "$ms" -lt "$3" ] || die "$1: took $ms ms, expected $2..$(($3 - 1))"
}

capture() {
	local f=$pcaps/$1/$2
	[ -f "$f" ] || die "capture $f is missing (meson setup -Dpcaps=DIR)"
	echo "$f"
}

# Two of five match; the changed Content-Type, body and status are named,
# the Date and Server httpsim makes fresh are not compared.
pipelined_changed() {
	counts "$1" "match 2, differ 3, timeout 0, silent 0"
	has "$1" "exchanges 5 in 1 flows"
	has "$1" "exchange 2 get/request: field(Content-Type): captured application/x-javascript, live text/plain"
	has "$1" "exchange 4 get/request: body: captured 2349 bytes, live 2349 bytes, first difference at byte 0"
	has "$1" "exchange 5 get/request: status: captured 200, live 404"
	has "$1" "exchange 5 get/request: reason: captured OK, live Not Found"
	lines "$1" 4 ': captured '
	hasnt "$1" "Date"
	hasnt "$1" "Server"
	has "$1" "0 live answers without one"
}
