"""Three real agents on loopback for the HTTP tests: each with its own
libvirt test-driver host (distinct VMs), its own gossip and HTTP ports, in
an insecure cluster (the HTTP side does not depend on keys); the last one
logs in JSON. Used by
test_prometheus.py and test_dashboard.py.

Network rule: when run as root, the test re-executes itself in a network
namespace of its own with only loopback up (unshare -n), so neither the
agents nor Prometheus nor Chromium can reach any other address."""
import html
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HOST_XML = """<node>
  <cpu><mhz>2600</mhz><model>x86_64</model><active>8</active><nodes>1</nodes>
       <sockets>1</sockets><cores>8</cores><threads>1</threads></cpu>
  <memory>16777216</memory>
  <domain type="test"><name>{h}-web</name><uuid>00000000-0000-4000-8000-0000000000{i}1</uuid>
    <memory>2097152</memory><currentMemory>2097152</currentMemory><vcpu>2</vcpu><os><type>hvm</type></os></domain>
  <domain type="test"><name>{h}-db</name><uuid>00000000-0000-4000-8000-0000000000{i}2</uuid>
    <memory>4194304</memory><currentMemory>4194304</currentMemory><vcpu>1</vcpu><os><type>hvm</type></os></domain>
{extra}</node>
"""

# A VM whose name is markup, as a tenant who names a VM could give it:
# libvirt accepts it; a page that put names into HTML would run it.
HOSTILE_VM = '<img src=x onerror="window.pwned=1">'
HOSTILE_XML = """  <domain type="test"><name>{name}</name><uuid>00000000-0000-4000-8000-0000000000{i}3</uuid>
    <memory>1048576</memory><currentMemory>1048576</currentMemory><vcpu>1</vcpu><os><type>hvm</type></os></domain>
"""


def isolate():
    """Re-runs this script in a network namespace with only loopback (root
    only; otherwise the test keeps to 127.0.0.1 by its own addresses)."""
    if os.geteuid() != 0 or os.environ.get("NODECTL_NETNS_DONE"):
        return
    os.environ["NODECTL_NETNS_DONE"] = "1"
    cmd = "ip link set lo up && exec \"$0\" \"$@\""
    os.execvp("unshare", ["unshare", "--net", "sh", "-c", cmd, sys.executable] + sys.argv)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=2.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


class Cluster:
    def __init__(self, nodectl, n=3, hostile_vm=False):
        """hostile_vm: the first host also runs a VM named HOSTILE_VM."""
        self.nodectl = nodectl
        self.n = n
        self.hostile_vm = hostile_vm
        self.dir = tempfile.mkdtemp(prefix="nodectl-http-")
        self.gossip = [free_port() for _ in range(n)]
        self.http = [free_port() for _ in range(n)]
        self.procs = [None] * n

    def name(self, i):
        return "host%d" % (i + 1)

    def name_index(self, name):
        return int(name[len("host"):]) - 1

    def instance(self, name):
        """Its Prometheus target."""
        return "127.0.0.1:%d" % self.http[self.name_index(name)]

    def url(self, i, path="/"):
        return "http://127.0.0.1:%d%s" % (self.http[i], path)

    def start(self):
        names = ", ".join(self.name(i) for i in range(self.n))
        for i in range(self.n):
            d = os.path.join(self.dir, self.name(i))
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "hypervisor.xml"), "w") as f:
                extra = ""
                if self.hostile_vm and i == 0:
                    extra = HOSTILE_XML.format(name=html.escape(HOSTILE_VM), i=i + 1)
                f.write(HOST_XML.format(h=self.name(i), i=i + 1, extra=extra))
            conf = os.path.join(d, "nodectl.conf")
            with open(conf, "w") as f:
                f.write(f"""[cluster]
name = http
insecure = true
discovery = false
seeds = 127.0.0.1:{self.gossip[0]}
candidates = {names}
[node]
name = {self.name(i)}
bind_address = 127.0.0.1
port = {self.gossip[i]}
state_dir = {d}/state
control_socket = {d}/ctl.sock
log_format = {"json" if i == self.n - 1 else "text"}
[http]
listen = 127.0.0.1:{self.http[i]}
[hypervisor]
uri = test://{d}/hypervisor.xml
sample_interval = 1s
[election]
# Tolerant of a loaded machine (a browser and a Prometheus beside three
# agents on shared cores): a failover takes a few seconds, not a flap.
heartbeat_interval = 200ms
election_timeout = 2s
[leader]
plan_interval = 2s
""")
            log = open(os.path.join(d, "agent.log"), "ab")
            self.procs[i] = subprocess.Popen([self.nodectl, "agent", "-c", conf], stdout=log,
                                             stderr=subprocess.STDOUT)
        for i in range(self.n):
            self.wait(lambda: self.state(i) is not None, 20, "agent %d to answer" % i)

    def state(self, i):
        try:
            return json.loads(get(self.url(i, "/api/state")))
        except (OSError, ValueError):
            return None

    def leader(self, i):
        st = self.state(i)
        return st["status"].get("leader") if st else None

    def agreed_leader(self, alive, timeout=60, not_=None):
        """The leader every agent in alive names (not not_), once they agree."""
        found = []

        def agreed():
            found[:] = [self.current_leader(alive, not_)]
            return found[0] is not None
        self.wait(agreed, timeout, "one leader among %s" % list(alive))
        return found[0]

    def current_leader(self, alive, not_=None):
        """The leader every agent in alive names now, or None."""
        names = {self.leader(i) for i in alive}
        if len(names) == 1 and None not in names and "" not in names and not_ not in names:
            return names.pop()
        return None

    def kill(self, i):
        self.procs[i].send_signal(signal.SIGKILL)
        self.procs[i].wait()
        self.procs[i] = None

    def stop(self):
        """Stops the agents still running; asserts that each exited 0 (under
        ASan, a leak or an error found at exit makes it fail)."""
        for p in self.procs:
            if p:
                p.send_signal(signal.SIGTERM)
        codes = []
        for i, p in enumerate(self.procs):
            if p:
                try:
                    codes.append((self.name(i), p.wait(20)))
                except subprocess.TimeoutExpired:
                    p.kill()
                    codes.append((self.name(i), "did not stop"))
        self.procs = [None] * self.n
        bad = [c for c in codes if c[1] != 0]
        assert not bad, "agents that did not exit 0: %s" % bad

    def kill_all(self):
        """After a failure: no agent outlives the test."""
        for i, p in enumerate(self.procs):
            if p:
                p.kill()
                p.wait()
                self.procs[i] = None

    def log_path(self, i):
        return os.path.join(self.dir, self.name(i), "agent.log")

    def logs(self):
        out = []
        for i in range(self.n):
            path = os.path.join(self.dir, self.name(i), "agent.log")
            with open(path, errors="replace") as f:
                out.append("== %s\n%s" % (path, "".join(f.readlines()[-30:])))
        return "\n".join(out)

    @staticmethod
    def wait(cond, timeout, what):
        end = time.time() + timeout
        while time.time() < end:
            if cond():
                return
            time.sleep(0.2)
        raise AssertionError("timed out waiting for " + what)
