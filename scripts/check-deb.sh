#!/bin/bash
# Proves the "Identical install": `cpack -G DEB` makes a package that
# installs on a fresh Debian 12 machine and starts the agent under its
# systemd unit as written.
#
#   scripts/check-deb.sh [BUILD_DIR]      (root; default BUILD_DIR build-deb)
#   NODECTL_CHECK_DEB_MODE=auto|systemd|chroot   (default auto)
#
# 1. Release build (no sanitizers) in BUILD_DIR, then cpack -G DEB.
# 2. A fresh Debian 12 root: debootstrap minbase plus systemd, from the
#    mirror this host's apt uses, cached as a tarball in $NODECTL_TEST_CACHE
#    (default /var/cache/nodectl-test; delete it to start over).
# 3. apt-get install ./nodectl_*.deb in that root, which fetches the Depends
#    from the archive, so a missing or wrong dependency fails here.
# 4. systemd mode (auto picks it when systemd-nspawn can boot the root):
#    systemd runs as PID 1 of the container and the unit is used as
#    installed: systemctl start, nodectl status, systemctl reload, stop with
#    Result=success; an upgrade restarts a running agent; purge stops it.
#    chroot mode (where systemd cannot run): the script does what systemd
#    would do with the installed unit: creates RuntimeDirectory= and
#    StateDirectory= with their modes, runs ExecStart= exactly as written in
#    a clean environment, runs ExecReload=, sends KillSignal= and requires
#    exit code 0, which systemd counts as a clean stop.
# 5. Reinstall (the maintainer scripts' upgrade path), then purge.
#
# Network: only apt downloads from the Debian archive; the agent talks to
# its control socket (IPC) inside the root and to nothing else.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(realpath -m "${1:-$SRC/build-deb}")
CACHE=${NODECTL_TEST_CACHE:-/var/cache/nodectl-test}
SUITE=bookworm
UNIT=/lib/systemd/system/nodectl.service
PATH_IN_ROOT=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

step() { printf '== %s (%ds)\n' "$*" "$SECONDS"; }
fail() {
    echo "check-deb: FAIL: $*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap, chroot, mount)"
for tool in debootstrap dpkg-shlibdeps cpack; do
    command -v "$tool" >/dev/null || fail "$tool not found; run scripts/install-deps.sh"
done

# The first URI this host's apt has for SUITE (one-line .list or deb822
# .sources format); NODECTL_DEBIAN_MIRROR overrides the main archive.
mirror_for() {
    local suite=$1 f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk -v s="$suite" '$1 == "deb" {
            for (i = 2; i < NF; i++) if ($i ~ /^[a-z+]+:\/\//) { if ($(i + 1) == s) { print $i; exit } break }
        }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v s="$suite" 'BEGIN { RS = "" } {
            uri = ""; found = 0; off = 0
            n = split($0, line, "\n")
            for (j = 1; j <= n; j++) {
                m = split(line[j], w, /[ \t]+/)
                if (w[1] == "URIs:") uri = w[2]
                if (w[1] == "Enabled:" && w[2] == "no") off = 1
                if (w[1] == "Suites:") for (k = 2; k <= m; k++) if (w[k] == s) found = 1
            }
            if (found && !off && uri != "") { print uri; exit }
        }' "$f"
    done
}
MIRROR=${NODECTL_DEBIAN_MIRROR:-$(mirror_for "$SUITE" | head -n1)}
[ -n "$MIRROR" ] || fail "no apt source for $SUITE on this host; set NODECTL_DEBIAN_MIRROR"
SECURITY=$(mirror_for "$SUITE-security" | head -n1)

step "build $BUILD (Release) and cpack -G DEB"
cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DNODECTL_SANITIZE=OFF \
    -DNODECTL_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j2 >/dev/null
rm -f "$BUILD"/nodectl_*.deb
(cd "$BUILD" && cpack -G DEB >/dev/null)
DEBS=("$BUILD"/nodectl_*.deb)
if [ "${#DEBS[@]}" -ne 1 ] || [ ! -f "${DEBS[0]}" ]; then
    fail "expected one nodectl_*.deb in $BUILD"
fi
DEB=${DEBS[0]}
dpkg-deb -f "$DEB" Depends | grep -q libvirt0 || fail "Depends lacks libvirt0 (shlibdeps?)"

ROOTFS=$CACHE/debian-$SUITE-minbase-systemd.tar.gz
mkdir -p "$CACHE/apt-archives/partial"
if [ ! -f "$ROOTFS" ]; then
    step "debootstrap $SUITE from $MIRROR (cached as $ROOTFS)"
    fresh=$(mktemp -d "$CACHE/debootstrap.XXXXXX")
    # A Debian 12 machine boots systemd; minbase alone has no init.
    debootstrap --variant=minbase --include=systemd,systemd-sysv "$SUITE" "$fresh/root" \
        "$MIRROR" >"$fresh/log" 2>&1 ||
        { tail -n 20 "$fresh/log" >&2; fail "debootstrap failed; log in $fresh/log"; }
    tar -C "$fresh/root" -czf "$ROOTFS.tmp" .
    mv "$ROOTFS.tmp" "$ROOTFS"
    rm -rf "$fresh"
fi

WORK=$(mktemp -d /var/tmp/nodectl-check-deb.XXXXXX)
R=$WORK/root
AGENT_PID=""   # chroot mode: the agent started from ExecStart=
NSPAWN_PID=""  # systemd mode: systemd-nspawn, and the container's PID 1
INIT_PID=""
MOUNTS=()
stop_container() {
    local _
    kill -TERM "$NSPAWN_PID" 2>/dev/null || return 0
    for _ in $(seq 100); do
        kill -0 "$NSPAWN_PID" 2>/dev/null || break
        sleep 0.2
    done
    kill -KILL "$NSPAWN_PID" 2>/dev/null || true
    wait "$NSPAWN_PID" 2>/dev/null || true
    NSPAWN_PID=""
}
cleanup() {
    local rc=$? i p
    if [ -n "$AGENT_PID" ] && kill -0 "$AGENT_PID" 2>/dev/null; then
        kill -KILL "$AGENT_PID"
        wait "$AGENT_PID" 2>/dev/null || true
    fi
    [ -z "$NSPAWN_PID" ] || stop_container
    # Anything else still running in the chroot was started by this script.
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$R" ] && kill -KILL "${p#/proc/}" 2>/dev/null
    done
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
        umount "${MOUNTS[i]}" || umount -l "${MOUNTS[i]}" || echo "check-deb: cannot unmount ${MOUNTS[i]}" >&2
    done
    # Never rm -rf through a mount point that is still there.
    if grep -q " $WORK/" /proc/mounts; then
        echo "check-deb: mounts remain under $WORK; not deleting it" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "fresh root from $ROOTFS"
mkdir "$R"
tar -C "$R" -xzf "$ROOTFS"
{
    echo "deb $MIRROR $SUITE main"
    echo "deb $MIRROR $SUITE-updates main"
    [ -z "$SECURITY" ] || echo "deb $SECURITY $SUITE-security main"
} >"$R/etc/apt/sources.list"
cp /etc/resolv.conf "$R/etc/resolv.conf"
# Not /tmp: a booted systemd mounts a tmpfs over it.
PKG=/var/tmp/$(basename "$DEB")
cp "$DEB" "$R$PKG"

# Boots the root with systemd as PID 1; returns 1 if it cannot.
boot_container() {
    local state=""
    systemd-nspawn -q -D "$R" -M "nodectl-check-$$" --register=no --keep-unit \
        --console=read-only --bind="$CACHE/apt-archives:/var/cache/apt/archives" \
        --boot >"$WORK/boot.log" 2>&1 &
    NSPAWN_PID=$!
    # nspawn's child becomes the container's PID 1 once it execs systemd;
    # until systemd listens, systemctl answers "offline", so ask again.
    local deadline=$((SECONDS + 90))
    while [ "$SECONDS" -lt "$deadline" ]; do
        kill -0 "$NSPAWN_PID" 2>/dev/null || break
        INIT_PID=$(pgrep -P "$NSPAWN_PID" -x systemd | head -n1) || true
        if [ -n "$INIT_PID" ]; then
            state=$(timeout $((deadline - SECONDS + 1)) nsenter -t "$INIT_PID" -a systemctl is-system-running --wait) || true
            # "degraded" is fine: a container lacks units a real machine has.
            case "$state" in running | degraded) return 0 ;; esac
        fi
        sleep 0.2
    done
    echo "systemd in the container: '${state:-not started}'" >>"$WORK/boot.log"
    return 1
}

MODE=${NODECTL_CHECK_DEB_MODE:-auto}
case "$MODE" in
auto | systemd)
    if command -v systemd-nspawn >/dev/null && boot_container; then
        MODE=systemd
    else
        [ "$MODE" = auto ] || { cat "$WORK/boot.log" >&2; fail "systemd-nspawn cannot boot the root"; }
        echo "systemd cannot run here (see below); running the unit's command lines instead"
        tail -n 5 "$WORK/boot.log" 2>/dev/null || true
        [ -z "$NSPAWN_PID" ] || stop_container
        INIT_PID=""
        MODE=chroot
    fi
    ;;
chroot) ;;
*) fail "NODECTL_CHECK_DEB_MODE='$MODE': expected auto, systemd or chroot" ;;
esac
if [ "$MODE" = chroot ]; then
    mount -t proc proc "$R/proc"
    MOUNTS+=("$R/proc")
    # Downloaded .debs survive between runs.
    mount --bind "$CACHE/apt-archives" "$R/var/cache/apt/archives"
    MOUNTS+=("$R/var/cache/apt/archives")
fi

# Runs a command inside the root, with the clean environment systemd gives.
in_root() {
    if [ "$MODE" = systemd ]; then
        nsenter -t "$INIT_PID" -a /usr/bin/env -i PATH="$PATH_IN_ROOT" LANG=C.UTF-8 "$@"
    else
        chroot "$R" /usr/bin/env -i PATH="$PATH_IN_ROOT" LANG=C.UTF-8 "$@"
    fi
}

step "$MODE mode: apt-get install $PKG (Depends from the archive)"
in_root apt-get update -q >"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log" >&2; fail "apt-get update"; }
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "$PKG" >>"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log" >&2; fail "apt-get install of the package"; }

step "installed files"
HOOK=/etc/libvirt/hooks/qemu.d/nodectl
for f in /usr/bin/nodectl "$UNIT" /etc/nodectl/nodectl.conf \
    /usr/share/doc/nodectl/nodectl.conf.example "$HOOK"; do
    in_root test -f "$f" || fail "$f not installed"
done
for f in /etc/nodectl/nodectl.conf "$HOOK"; do
    in_root dpkg-query -W -f="\${Conffiles}\n" nodectl | grep -q "^ $f " ||
        fail "$f is not a conffile"
done
in_root test -x "$HOOK" || fail "$HOOK is not executable"
# libvirt's call for an incoming migration, the XML on stdin: no gate yet, let in.
echo '<domain/>' | in_root "$HOOK" vm1 migrate begin - || fail "$HOOK refused with no gate"
in_root nodectl --version
in_root ldd /usr/bin/nodectl | grep 'not found' && fail "unresolved shared libraries"
# Unknown keys or bad values in the unit, as systemd itself reads them.
in_root systemd-analyze verify "$UNIT" >"$WORK/verify.out" 2>&1 ||
    { cat "$WORK/verify.out" >&2; fail "systemd-analyze verify $UNIT"; }
[ ! -s "$WORK/verify.out" ] || { cat "$WORK/verify.out" >&2; fail "systemd-analyze verify $UNIT warns"; }
HOST=$(in_root cat /proc/sys/kernel/hostname)

# What an operator does after installing (README): make the cluster key, the
# CA (elsewhere, kept offline: here /root), this host's key and certificate,
# and choose the addresses. Here the agent listens on loopback only and sends
# no discovery beacons: the container shares this machine's network, and
# tests send nothing beyond loopback.
step "operator: nodectl keygen, ca init, identity init, ca sign, loopback address, no discovery"
in_root nodectl keygen /etc/nodectl/cluster.key || fail "nodectl keygen"
in_root nodectl ca init /root/nodectl-ca >/dev/null || fail "nodectl ca init"
in_root cp /root/nodectl-ca/ca.pub /etc/nodectl/ca.pub
# shellcheck disable=SC2016 # expanded inside the root
in_root sh -c 'nodectl ca sign --ca /root/nodectl-ca -o /etc/nodectl/host.cert \
    "$(cat /proc/sys/kernel/hostname)" "$(nodectl identity init)"' || fail "nodectl identity init, ca sign"
[ "$(in_root stat -c %a /etc/nodectl/host.key)" = 600 ] || fail "host key is not mode 0600"
in_root nodectl identity show || fail "nodectl identity show"
in_root sed -i -e 's/^bind_address = .*/bind_address = 127.0.0.1/' \
    -e 's/^discovery = .*/discovery = false/' /etc/nodectl/nodectl.conf
in_root grep -q '^discovery = false' /etc/nodectl/nodectl.conf || fail "could not turn discovery off"

# The agent answers `nodectl status` as this node, shows the test driver's
# domain, and has made its identity and its control socket.
check_agent_serves() {
    local ok="" _
    for _ in $(seq 50); do
        if in_root nodectl status >"$WORK/status.out" 2>&1; then
            ok=1
            break
        fi
        sleep 0.2
    done
    [ -n "$ok" ] || { cat "$WORK/status.out" >&2; return 1; }
    cat "$WORK/status.out"
    grep -q "^node: *$HOST " "$WORK/status.out" || fail "status does not name node $HOST"
    in_root nodectl vms | tee "$WORK/vms.out"
    grep -qw test "$WORK/vms.out" || fail "nodectl vms lacks the test driver's domain 'test'"
    in_root test -s /var/lib/nodectl/node-id || fail "no node identity in /var/lib/nodectl"
    [ "$(in_root stat -c %a /run/nodectl/nodectl.sock)" = 660 ] ||
        fail "control socket mode is not 0660"
    [ "$(in_root stat -c %G /run/nodectl/nodectl.sock)" = nodectl ] ||
        fail "control socket group is not nodectl (postinst creates it)"
}

# Waits for a line in the agent's log (the journal in systemd mode).
wait_for_log() {
    local _
    for _ in $(seq 25); do
        if [ "$MODE" = systemd ]; then
            in_root journalctl -q -u nodectl --no-pager >"$WORK/agent.log" 2>&1 || true
        fi
        grep -q "$1" "$WORK/agent.log" && return 0
        sleep 0.2
    done
    cat "$WORK/agent.log" >&2
    return 1
}

unit_show() { in_root systemctl show nodectl.service -p "$1" --value; }

run_under_systemd() {
    [ "$(unit_show UnitFileState)" = disabled ] || fail "install enabled the unit"
    [ "$(unit_show ActiveState)" = inactive ] || fail "install started the agent"
    step "systemctl start nodectl"
    in_root systemctl start nodectl.service || fail "systemctl start"
    check_agent_serves || { in_root systemctl status nodectl --no-pager >&2; fail "nodectl status never answered"; }
    step "systemctl reload nodectl"
    in_root systemctl reload nodectl.service || fail "systemctl reload"
    wait_for_log "configuration reloaded" || fail "no reload in the journal"
    step "systemctl stop nodectl"
    in_root systemctl stop nodectl.service || fail "systemctl stop"
    in_root journalctl -q -u nodectl --no-pager
    [ "$(unit_show Result)" = success ] || fail "unit Result=$(unit_show Result)"
    [ "$(unit_show ExecMainStatus)" = 0 ] || fail "agent exited $(unit_show ExecMainStatus)"

    step "upgrade restarts a running agent, purge stops it"
    in_root systemctl start nodectl.service || fail "systemctl start"
    local before
    before=$(unit_show MainPID)
    in_root dpkg -i "$PKG" >>"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log" >&2; fail "reinstall"; }
    if [ "$(unit_show ActiveState)" != active ] || [ "$(unit_show MainPID)" = "$before" ]; then
        fail "reinstall did not restart the running agent"
    fi
    in_root apt-get purge -y -q nodectl >>"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log" >&2; fail "purge"; }
    in_root pgrep -x nodectl >/dev/null && fail "agent still running after purge"
    return 0
}

# One value of a [Service] key in the installed unit; empty if unset.
unit_value() { sed -n "s/^$1=//p" "$R$UNIT" | tail -n1; }

run_as_unit_says() {
    local exec_start exec_reload kill_signal kind name mode rc=0
    exec_start=$(unit_value ExecStart)
    exec_reload=$(unit_value ExecReload)
    case "$exec_start" in /*) ;; *) fail "ExecStart='$exec_start': expected a plain absolute command" ;; esac
    [ -z "$(unit_value User)" ] || fail "unit sets User=; this check runs as root only"
    kill_signal=$(unit_value KillSignal)
    kill_signal=${kill_signal:-SIGTERM}
    for kind in Runtime:/run State:/var/lib; do
        name=$(unit_value "${kind%%:*}Directory")
        mode=$(unit_value "${kind%%:*}DirectoryMode")
        [ -n "$name" ] || fail "unit lacks ${kind%%:*}Directory="
        install -d -m "${mode:-0755}" "$R${kind#*:}/$name"
    done

    step "ExecStart: $exec_start"
    local -a argv reload
    read -r -a argv <<<"$exec_start"
    # A plain command, not in_root: bash then forks once and chroot and env
    # exec, so $! is the agent itself, as MAINPID is to systemd.
    chroot "$R" /usr/bin/env -i PATH="$PATH_IN_ROOT" LANG=C.UTF-8 "${argv[@]}" 2>"$WORK/agent.log" &
    AGENT_PID=$!
    check_agent_serves || { cat "$WORK/agent.log" >&2; fail "nodectl status never answered"; }

    step "ExecReload: $exec_reload"
    read -r -a reload <<<"${exec_reload//\$MAINPID/$AGENT_PID}"
    in_root "${reload[@]}" || fail "ExecReload failed"
    wait_for_log "configuration reloaded" || fail "no reload after ExecReload"
    in_root nodectl status >/dev/null || fail "agent stopped answering after reload"

    step "$kill_signal, expecting exit code 0"
    kill -s "$kill_signal" "$AGENT_PID"
    wait "$AGENT_PID" || rc=$?
    AGENT_PID=""
    cat "$WORK/agent.log"
    [ "$rc" -eq 0 ] || fail "agent exited $rc after $kill_signal"

    step "reinstall (upgrade path), then purge"
    in_root dpkg -i "$PKG" >>"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log" >&2; fail "reinstall"; }
    in_root apt-get purge -y -q nodectl >>"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log" >&2; fail "purge"; }
}

if [ "$MODE" = systemd ]; then
    run_under_systemd
else
    run_as_unit_says
fi
for f in /usr/bin/nodectl "$UNIT" /etc/nodectl /var/lib/nodectl "$HOOK"; do
    in_root test ! -e "$f" || fail "$f is left after purge"
done
[ "$MODE" != systemd ] || stop_container

step "PASS ($MODE mode): $(basename "$DEB") installs on a fresh Debian $SUITE and runs as its unit says"
