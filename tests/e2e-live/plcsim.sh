#!/bin/bash
# xgw-replay --live straight against the PLC simulator (libmodbus): a real
# capture whose answers differ from the simulator's (each difference named:
# field, captured and live values), a capture written here with the
# simulator's own values (all match, paced as captured or fast), the dead
# unit (timeouts, and silence where the capture had none), a closed port,
# and the options refused.
#
#   plcsim.sh XGW-REPLAY PLCSIM MKCAP PCAPS SRCDIR
set -u
replay=$(readlink -f "$1") plcsim=$(readlink -f "$2") mkcap=$(readlink -f "$3")
pcaps=$4 src=$(readlink -f "$5")
. "$src/tests/e2e/lib.sh"
. "$src/tests/e2e-live/lib.sh"
test_setup live-plcsim

p502=$(capture modbus zeek__modbus-and-non-modbus-p502.pcap)
set -- $(free_ports 2)
plc_port=$1 closed_port=$2
plcsim_start "$plc_port" -d
plc=127.0.0.1:$plc_port

# First, while the simulator holds its initial pattern: the capture read
# coils 0 and 2..3 as 0 (the simulator has 1 at 0 and 3) and holding
# registers 5..6 as 9 24 (the simulator: 36 43); its three writes are
# echoed; its request with function code 10 had no answer and the
# simulator answers it with exception 1 (after libmodbus's 500 ms wait for
# more bytes: hence the longer timeout).
live p502 1 --live "$plc" --pace fast --timeout 3000 "$p502"
counts p502 "match 3, differ 4, timeout 0, silent 0"
has p502 "exchanges 7 in 2 flows"
has p502 "exchange 1 read-coils/request: bits[0]: captured 0, live 1 (1 of 8 differ)"
has p502 "exchange 2 read-coils/request: bits[1]: captured 0, live 1 (1 of 8 differ)"
has p502 "exchange 3 read-holding-registers/request: regs[0]: captured 9, live 36 (2 of 2 differ)"
has p502 "exchange 1 fc10/request: answer: captured none, live fc10/exception"
lines p502 4 ': captured '
hasnt p502 "tid"
ok "a real capture: 3 matches, 4 differences named field by field"

"$mkcap" match "$t/match.pcap" || die "mkcap match"
live fast 0 --live "$plc" --pace fast "$t/match.pcap"
counts fast "match 4, differ 0, timeout 0, silent 0"
took fast 0 400
live paced 0 --live "$plc" "$t/match.pcap"
counts paced "match 4, differ 0, timeout 0, silent 0"
has paced "pace captured"
took paced 1190 3000
ok "the simulator's own values: 4 matches; fast in $(elapsed_ms fast) ms, as captured in $ms ms"

"$mkcap" dead "$t/dead.pcap" || die "mkcap dead"
live dead 1 --live "$plc" --pace fast --timeout 300 --verbose "$t/dead.pcap"
counts dead "match 0, differ 0, timeout 1, silent 1"
has dead "exchange 1 read-holding-registers/request: timeout: no answer within 300 ms"
has dead "exchange 2 read-holding-registers/request: silent: no answer, as captured"
took dead 590 2000
ok "the dead unit: a timeout, and silence where the capture had none"

live closed 1 --live "127.0.0.1:$closed_port" --pace fast "$t/match.pcap"
counts closed "match 0, differ 0, timeout 4, silent 0"
has closed "timeout: connect to 127.0.0.1:$closed_port: Connection refused"
ok "a closed port: every exchange fails, saying why"

for bad in "--pace slow" "--timeout 0" "--timeout 600001" "--pace fast" "--live 127.0.0.1" \
    "--live [::1]" "--live 127.0.0.1:$plc_port --check" "--live 127.0.0.1:$plc_port --policy /dev/null"; do
	# shellcheck disable=SC2086
	live refused 2 $bad "$t/match.pcap"
done
ok "bad options refused with status 2"
echo "live-plcsim: all passed"
