#!/bin/sh
# Installs every Debian 12 package the build, the tests and the demo need.
set -eu
pkgs="gcc meson ninja-build pkg-config python3 bison flex
 libstrophe-dev libexpat1-dev libpcap-dev libcmocka-dev libmodbus-dev libcoap3-dev
 libpaho-mqtt-dev libssl-dev uuid-dev libsqlite3-dev
 tshark libxml2-utils time
 prosody prosody-modules openssl procps
 mbpoll python3-pymodbus python3-serial-asyncio libcoap3-bin
 mosquitto mosquitto-clients python3-paho-mqtt curl
 debhelper debootstrap dpkg-dev systemd man-db groff-base"
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: run as root (apt-get installs: $pkgs)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
