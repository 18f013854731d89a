#!/bin/sh
# Installs what the multi-host rig (test/rig/rig) needs, from Debian 12's archive.
# Kept apart from scripts/install-deps.sh because a libvirt daemon and QEMU are heavy
# (~18 MB to download, ~35 packages) and only the rig needs them. `rig up` calls this
# itself, so it runs apt-get only when something is missing.
set -eu
# libvirt-daemon + libvirt-daemon-driver-qemu: a real libvirtd/virtlogd per rig host.
# qemu-system-x86: the guests. libvirt-clients: virsh. iproute2: namespaces, veth, bridge.
# util-linux: unshare/nsenter/flock/mountpoint. procps: pgrep/pkill by pid file.
# openipmi: ipmi_sim, each host's simulated BMC. ipmitool: the IPMI client the agents run.
# nftables: the chaos test's cut links and packet loss (netdev hooks on a host's eth0), which
# also work on kernels without netem. pngquant: leader-demo.sh tour's screenshot, made small
# enough to commit (the README's).
PKGS="libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86 libvirt-clients
iproute2 util-linux procps openipmi ipmitool nftables pngquant"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
# shellcheck disable=SC2086
"$(dirname "$0")/../../scripts/apt-ensure.sh" $PKGS

# libvirtd refuses to start its QEMU driver until the user libvirt-qemu exists, even when
# qemu.conf says user = "root" (the default user is resolved before the file is read). Debian's
# libvirt-daemon-system would create it (and group kvm); the rig installs only the daemon.
getent group kvm >/dev/null || $SUDO groupadd --system kvm
getent passwd libvirt-qemu >/dev/null ||
    $SUDO useradd --system --user-group --groups kvm --no-create-home \
        --home-dir /var/lib/libvirt --shell /usr/sbin/nologin libvirt-qemu
