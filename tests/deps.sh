#!/usr/bin/env bash
# tests/deps.sh - installs, through apt-get, what `make test` needs and this machine lacks.
# Prints what it installs; fails loudly when it cannot.
set -eu
. "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have cc || need+=(gcc)
have c++ || need+=(g++)
have make || need+=(make)
have valgrind || need+=(valgrind)
have mosquitto || need+=(mosquitto)
have mosquitto_pub || need+=(mosquitto-clients)
have clang || need+=(clang)
have python3 || need+=(python3)
for extra in ${MQTTC_TEST_PACKAGES:-}; do pkg_ok "$extra" || need+=("$extra"); done
for f in tests/deps.d/*.list; do
    [ -f "$f" ] || continue
    while read -r p; do
        case "$p" in ''|'#'*) continue ;; esac
        pkg_ok "$p" || need+=("$p")
    done <"$f"
done
apt_install tests/deps.sh "${need[@]}"
