#!/usr/bin/env python3
"""The rig's power controller: listens for Wake-on-LAN magic packets and powers rig hosts on.

Started by `rig up` inside the rig's switch namespace (where the bridge br0 has 10.77.0.254), so
it sees every broadcast a rig host sends, and nothing from outside the rig. See test/rig/README.md,
"Power".

    wol_listener.py RIG_CMD STATE_DIR

A magic packet (AMD, "Magic Packet Technology", white paper 20213, 1995) is six 0xFF bytes
followed by the target MAC sixteen times, anywhere in the payload; senders use UDP to the
broadcast address, port 9 (discard) by convention, sometimes 7 (echo), so both are read. A rig
host rigK has MAC 02:77:00:00:HH:LL with K = HH*256 + LL (test/rig/rig, make_host).

Packets are handled one at a time: while a host is powered on (`RIG_CMD power rigK on`, which
waits for its libvirtd), further packets wait in the socket buffers, and one for the host just
woken then finds it on and is ignored, as a NIC of a running machine ignores it. The pid file is
written once both ports are bound: `rig up` waits for it.
"""

import os
import re
import select
import socket
import subprocess
import sys
import time

PORTS = (9, 7)
SYNC = b"\xff" * 6
MAC_LEN = 6
REPEATS = 16
RIG_MAC = re.compile(r"^02:77:00:00:([0-9a-f]{2}):([0-9a-f]{2})$")


def log(line):
    """One line to stdout, which `rig up` appends to $STATE/power.log."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(f"{stamp} {line}", flush=True)


def magic_mac(payload):
    """The target MAC of the first magic packet in payload, as aa:bb:..., or None.

    Every run of six 0xFF bytes is a candidate sync stream: a MAC may itself start with 0xFF
    bytes, so the first match is not always the right one."""
    start = payload.find(SYNC)
    while start != -1:
        body = payload[start + len(SYNC):start + len(SYNC) + MAC_LEN * REPEATS]
        mac = body[:MAC_LEN]
        if len(body) == MAC_LEN * REPEATS and body == mac * REPEATS:
            return ":".join(f"{b:02x}" for b in mac)
        start = payload.find(SYNC, start + 1)
    return None


def rig_host(mac, state):
    """The rig host name for mac, or None when it is not a host of this rig."""
    m = RIG_MAC.match(mac)
    if not m:
        return None
    k = int(m.group(1), 16) * 256 + int(m.group(2), 16)
    name = f"rig{k}"
    if k == 0 or not os.path.isdir(os.path.join(state, name)):
        return None
    return name


def is_off(host, state):
    """The power state file `rig power` keeps; absent means on (a host starts on)."""
    try:
        with open(os.path.join(state, host, "power"), encoding="ascii") as f:
            return f.read().strip() == "off"
    except FileNotFoundError:
        return False


def handle(payload, sender, rig_cmd, state):
    mac = magic_mac(payload)
    if mac is None:
        log(f"wol: malformed packet ({len(payload)} bytes) from {sender}; ignored")
        return
    host = rig_host(mac, state)
    if host is None:
        log(f"wol: magic packet for {mac} from {sender}: not a rig host; ignored")
        return
    if not is_off(host, state):
        log(f"wol: magic packet for {mac} from {sender}: {host} is on; ignored")
        return
    log(f"wol: magic packet for {mac} from {sender}: {host} powering on")
    # `rig power` writes its own lines to the power log; its output is only worth logging when
    # it failed.
    try:
        res = subprocess.run([rig_cmd, "power", host, "on"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    except OSError as e:
        # The controller stays up for the next packet; this one is lost, as on a real LAN.
        log(f"wol: {host}: cannot run {rig_cmd}: {e}")
        return
    if res.returncode != 0:
        out = res.stdout.decode(errors="replace").strip().replace("\n", " | ")
        log(f"wol: {host}: 'rig power {host} on' failed with status {res.returncode}: {out}")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: wol_listener.py RIG_CMD STATE_DIR")
    rig_cmd, state = sys.argv[1], sys.argv[2]
    socks = []
    for port in PORTS:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", port))
        socks.append(s)
    with open(os.path.join(state, "wol-listener.pid.tmp"), "w", encoding="ascii") as f:
        f.write(f"{os.getpid()}\n")
    os.rename(os.path.join(state, "wol-listener.pid.tmp"),
              os.path.join(state, "wol-listener.pid"))
    log(f"wol: listening on UDP ports {', '.join(map(str, PORTS))}")
    while True:
        ready, _, _ = select.select(socks, [], [])
        for s in ready:
            payload, (addr, _port) = s.recvfrom(65535)
            handle(payload, addr, rig_cmd, state)


if __name__ == "__main__":
    main()
