#!/bin/sh
# Installs, from Debian's archive, those of the packages named as arguments
# that are not installed yet; does nothing (and needs no network) otherwise.
# Shared by scripts/install-deps.sh and test/rig/install-deps.sh.
set -eu
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "installing:$missing"
    $SUDO apt-get update -q
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
fi
