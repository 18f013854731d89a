#!/bin/sh
# Installs what nodectl needs to build and test, from Debian 12's archive.
set -eu
PKGS="build-essential cmake pkgconf git ca-certificates
libvirt-dev libvirt-clients libnng-dev libprotobuf-c-dev protobuf-c-compiler uuid-dev
libjansson-dev libinih-dev libsodium-dev libcmocka-dev dpkg-dev file debootstrap systemd-container
spin"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "installing:$missing"
    $SUDO apt-get update -q
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
fi
