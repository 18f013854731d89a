#!/bin/bash
# Proves issue [1]'s "Identical install": `cpack -G DEB` makes a package that
# installs on a fresh Debian 12 machine and starts the agent as its systemd
# unit says.
#
#   scripts/check-deb.sh [BUILD_DIR]      (root; default BUILD_DIR build-deb)
#
# 1. Release build (no sanitizers) in BUILD_DIR, then cpack -G DEB.
# 2. A fresh minimal Debian 12 root made by debootstrap from the mirror this
#    host's apt uses (cached as a tarball in $NODECTL_TEST_CACHE, default
#    /var/cache/nodectl-test; delete it to start over).
# 3. In a chroot: apt-get install ./nodectl_*.deb, which fetches the Depends
#    from the archive, so a missing or wrong dependency fails here.
# 4. systemd is not PID 1 in a chroot, so the script does what systemd would
#    do with the installed unit file: create its RuntimeDirectory and
#    StateDirectory with their modes, run ExecStart= exactly as written with
#    a clean environment, run ExecReload=, then send SIGTERM (KillSignal=)
#    and require exit code 0, which systemd counts as a clean stop.
# 5. Reinstall (the upgrade path of the maintainer scripts), then purge.
#
# Network: only apt downloads from the Debian archive; the agent itself talks
# to its control socket (IPC) inside the chroot.
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

ROOTFS=$CACHE/debian-$SUITE-minbase.tar.gz
mkdir -p "$CACHE/apt-archives/partial"
if [ ! -f "$ROOTFS" ]; then
    step "debootstrap $SUITE from $MIRROR (cached as $ROOTFS)"
    fresh=$(mktemp -d "$CACHE/debootstrap.XXXXXX")
    debootstrap --variant=minbase "$SUITE" "$fresh/root" "$MIRROR" >"$fresh/log" 2>&1 ||
        { tail -n 20 "$fresh/log" >&2; fail "debootstrap failed; log in $fresh/log"; }
    tar -C "$fresh/root" -czf "$ROOTFS.tmp" .
    mv "$ROOTFS.tmp" "$ROOTFS"
    rm -rf "$fresh"
fi

WORK=$(mktemp -d /var/tmp/nodectl-check-deb.XXXXXX)
R=$WORK/root
AGENT_PID=""
MOUNTS=()
cleanup() {
    local rc=$? i p
    if [ -n "$AGENT_PID" ] && kill -0 "$AGENT_PID" 2>/dev/null; then
        kill -KILL "$AGENT_PID"
        wait "$AGENT_PID" 2>/dev/null || true
    fi
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

mount_in_root() { # mount_in_root ARGS... TARGET
    mount "$@"
    MOUNTS+=("${!#}")
}

in_root() { chroot "$R" /usr/bin/env -i PATH="$PATH_IN_ROOT" LANG=C.UTF-8 "$@"; }

step "fresh root from $ROOTFS"
mkdir "$R"
tar -C "$R" -xzf "$ROOTFS"
{
    echo "deb $MIRROR $SUITE main"
    echo "deb $MIRROR $SUITE-updates main"
    [ -z "$SECURITY" ] || echo "deb $SECURITY $SUITE-security main"
} >"$R/etc/apt/sources.list"
cp /etc/resolv.conf "$R/etc/resolv.conf"
mount_in_root -t proc proc "$R/proc"
# Downloaded .debs survive between runs.
mount_in_root --bind "$CACHE/apt-archives" "$R/var/cache/apt/archives"
cp "$DEB" "$R/tmp/"

step "apt-get install ./$(basename "$DEB") (Depends from the archive)"
in_root apt-get update -q >"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log" >&2; fail "apt-get update"; }
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "/tmp/$(basename "$DEB")" >>"$WORK/apt.log" 2>&1 ||
    { cat "$WORK/apt.log" >&2; fail "apt-get install of the package"; }

step "installed files"
for f in /usr/bin/nodectl "$UNIT" /etc/nodectl/nodectl.conf \
    /usr/share/doc/nodectl/nodectl.conf.example; do
    [ -f "$R$f" ] || fail "$f not installed"
done
in_root dpkg-query -W -f="\${Conffiles}\n" nodectl | grep -q '^ /etc/nodectl/nodectl.conf ' ||
    fail "/etc/nodectl/nodectl.conf is not a conffile"
in_root nodectl --version
in_root ldd /usr/bin/nodectl | grep 'not found' && fail "unresolved shared libraries"

# One value of a [Service] key in the installed unit; empty if unset.
unit_value() { sed -n "s/^$1=//p" "$R$UNIT" | tail -n1; }
EXEC_START=$(unit_value ExecStart)
EXEC_RELOAD=$(unit_value ExecReload)
case "$EXEC_START" in /*) ;; *) fail "ExecStart='$EXEC_START': expected a plain absolute command" ;; esac
[ -z "$(unit_value User)" ] || fail "unit sets User=; this check runs as root only"
KILL_SIGNAL=$(unit_value KillSignal)
KILL_SIGNAL=${KILL_SIGNAL:-SIGTERM}
for kind in Runtime:/run State:/var/lib; do
    name=$(unit_value "${kind%%:*}Directory")
    mode=$(unit_value "${kind%%:*}DirectoryMode")
    [ -n "$name" ] || fail "unit lacks ${kind%%:*}Directory="
    install -d -m "${mode:-0755}" "$R${kind#*:}/$name"
done

step "ExecStart: $EXEC_START"
read -r -a ARGV <<<"$EXEC_START"
# A plain command, not the in_root function: bash then forks once and
# chroot and env exec, so $! is the agent itself, as MAINPID is to systemd.
chroot "$R" /usr/bin/env -i PATH="$PATH_IN_ROOT" LANG=C.UTF-8 "${ARGV[@]}" 2>"$WORK/agent.log" &
AGENT_PID=$!
ok=""
for _ in $(seq 50); do
    kill -0 "$AGENT_PID" 2>/dev/null || break
    if in_root nodectl status >"$WORK/status.out" 2>&1; then
        ok=1
        break
    fi
    sleep 0.2
done
[ -n "$ok" ] || { cat "$WORK/agent.log" "$WORK/status.out" >&2; fail "nodectl status never answered"; }
cat "$WORK/status.out"
grep -q "^node: *$(hostname) " "$WORK/status.out" || fail "status does not name node $(hostname)"
in_root nodectl vms | tee "$WORK/vms.out"
grep -qw test "$WORK/vms.out" || fail "nodectl vms lacks the test driver's domain 'test'"
[ -s "$R/var/lib/nodectl/node-id" ] || fail "no node identity in /var/lib/nodectl"
[ "$(stat -c %a "$R/run/nodectl/nodectl.sock")" = 660 ] || fail "control socket mode is not 0660"

step "ExecReload: $EXEC_RELOAD"
read -r -a RELOAD <<<"${EXEC_RELOAD//\$MAINPID/$AGENT_PID}"
in_root "${RELOAD[@]}"
for _ in $(seq 25); do
    grep -q "configuration reloaded" "$WORK/agent.log" && break
    sleep 0.2
done
grep -q "configuration reloaded" "$WORK/agent.log" || fail "no reload after ExecReload"
in_root nodectl status >/dev/null || fail "agent stopped answering after reload"

step "$KILL_SIGNAL, expecting exit code 0"
kill -s "$KILL_SIGNAL" "$AGENT_PID"
rc=0
wait "$AGENT_PID" || rc=$?
AGENT_PID=""
cat "$WORK/agent.log"
[ "$rc" -eq 0 ] || fail "agent exited $rc after $KILL_SIGNAL"

step "reinstall (upgrade path), then purge"
in_root dpkg -i "/tmp/$(basename "$DEB")" >>"$WORK/apt.log" 2>&1 ||
    { cat "$WORK/apt.log" >&2; fail "reinstall"; }
in_root apt-get purge -y -q nodectl >>"$WORK/apt.log" 2>&1 ||
    { cat "$WORK/apt.log" >&2; fail "purge"; }
for f in /usr/bin/nodectl "$UNIT" /etc/nodectl /var/lib/nodectl; do
    [ ! -e "$R$f" ] || fail "$f is left after purge"
done

step "PASS: $(basename "$DEB") installs on fresh Debian $SUITE and runs as its unit says"
