# tests/apt.sh - installing what this machine lacks, through apt-get: sourced by
# tests/deps.sh (what `make test` needs) and bench/deps.sh (what `make bench` needs).

# pkg_ok PKG: the Debian package PKG is installed
pkg_ok() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }

# apt_install WHO PKG...: installs the packages (through sudo unless root), saying so as WHO;
# nothing when none is named. Fails loudly when it cannot.
apt_install() {
    local who=$1 sudo=""
    shift
    [ $# -gt 0 ] || return 0
    echo "$who: installing $*"
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    echo "$who: installed $*"
}
