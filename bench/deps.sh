#!/usr/bin/env bash
# bench/deps.sh - installs, through apt-get, what `make bench` needs and this machine lacks:
# the two libraries compared (Debian's packages), OpenSSL (the TLS section), the broker, and
# the measuring tools.
# Prints what it installs; fails loudly when it cannot.
set -eu
. "$(dirname "${BASH_SOURCE[0]}")/../tests/apt.sh"
need=()
for p in gcc make binutils libc6-dev mosquitto libmosquitto-dev libpaho-mqtt-dev libssl-dev openssl strace procps; do
    pkg_ok "$p" || need+=("$p")
done
apt_install bench/deps.sh "${need[@]}"
