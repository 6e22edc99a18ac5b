#!/usr/bin/env bash
# bench/deps.sh - installs, through apt-get, what `make bench` needs and this machine lacks:
# the two libraries compared (Debian's packages), the broker, and the measuring tools.
# Prints what it installs; fails loudly when it cannot.
set -eu
need=()
pkg_ok() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
for p in gcc make binutils libc6-dev mosquitto libmosquitto-dev libpaho-mqtt-dev strace procps; do
    pkg_ok "$p" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "bench/deps.sh: installing ${need[*]}"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    echo "bench/deps.sh: installed ${need[*]}"
fi
