#!/bin/sh
# The main job: installs what is needed, builds, and replays a real Modbus/TCP
# capture through the transforms, printing each stanza and a summary.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
sh tests/deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build
pcaps=${XGW_PCAPS:-$top/../shared/pcaps}
capture=${1:-$pcaps/modbus/zeek__modbusSmall.pcap}
./build/gateway/xgw-replay --xml --check "$capture"
