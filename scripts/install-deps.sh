#!/bin/sh
# Installs what nodectl needs to build and test, from Debian 12's archive.
set -eu
PKGS="build-essential cmake pkgconf git ca-certificates
libvirt-dev libvirt-clients libnng-dev libprotobuf-c-dev protobuf-c-compiler uuid-dev
libjansson-dev libinih-dev libxml2-dev zlib1g-dev libglib2.0-dev tzdata libsodium-dev libcmocka-dev dpkg-dev file debootstrap systemd-container
spin clang libclang-rt-14-dev libmicrohttpd-dev linux-perf
 prometheus chromium chromium-driver python3-selenium"
# shellcheck disable=SC2086
"$(dirname "$0")/apt-ensure.sh" $PKGS
