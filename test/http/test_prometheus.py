#!/usr/bin/python3
"""A real Prometheus server (Debian's `prometheus`) scrapes three agents on
loopback every second: its API returns their series, nodectl_is_leader
sums to 1 over the cluster, and after the leader is killed the series
names another host. `promtool check metrics` accepts every agent's page.
The agent that logs in JSON writes only JSON lines, its events among them.

usage: test_prometheus.py NODECTL_BINARY"""
import json
import os
import shutil
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402


def query(port, q):
    url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (port, urllib.parse.quote(q))
    reply = json.loads(cluster.get(url))
    assert reply["status"] == "success", reply
    return reply["data"]["result"]


def leader_instances(port):
    return sorted(r["metric"]["instance"] for r in query(port, "nodectl_is_leader == 1"))


def check_json_log(path):
    """log_format = json: every line one object with time, level, priority
    and message; the leader's events among them (not under journald: no
    <N> prefix)."""
    events = 0
    with open(path) as f:
        for line in f:
            if line.startswith("=="):  # ASan's report, if any, is not ours
                break
            entry = json.loads(line)
            assert set(entry) == {"time", "level", "priority", "message"}, entry
            assert entry["priority"] in (3, 4, 6, 7), entry
            events += entry["message"].startswith("event: term ")
    assert events, "no election event in " + path
    print("log_format = json: every line of %s is a JSON object" % path)


def main():
    cluster.isolate()
    c = cluster.Cluster(sys.argv[1])
    prom = None
    try:
        c.start()
        c.agreed_leader(range(c.n))
        for i in range(c.n):
            page = cluster.get(c.url(i, "/metrics"))
            check = subprocess.run(["promtool", "check", "metrics"], input=page, text=True,
                                   capture_output=True)
            assert check.returncode == 0, "promtool on %s: %s%s" % (c.name(i), check.stdout,
                                                                    check.stderr)
        print("promtool check metrics: OK on %d agents" % c.n)

        pdir = os.path.join(c.dir, "prometheus")
        os.makedirs(pdir)
        targets = ", ".join("'127.0.0.1:%d'" % p for p in c.http)
        with open(os.path.join(pdir, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: nodectl\n"
                    "    static_configs:\n      - targets: [%s]\n" % targets)
        pport = cluster.free_port()
        plog = open(os.path.join(pdir, "prometheus.log"), "ab")
        prom = subprocess.Popen(["prometheus", "--config.file=" + pdir + "/prometheus.yml",
                                 "--storage.tsdb.path=" + pdir + "/data",
                                 "--web.listen-address=127.0.0.1:%d" % pport],
                                stdout=plog, stderr=subprocess.STDOUT)

        def all_up():
            try:
                up = query(pport, "up == 1")
                return len(up) == c.n and len(query(pport, "nodectl_is_leader")) == c.n
            except (OSError, ValueError):
                return False
        c.wait(all_up, 60, "Prometheus to scrape %d agents" % c.n)
        everyone = range(c.n)

        def agrees():
            """Prometheus names one leader, the one the agents agree on."""
            try:
                total = query(pport, "sum(nodectl_is_leader)")
                now = c.current_leader(everyone)
                return (float(total[0]["value"][1]) == 1 and now is not None and
                        leader_instances(pport) == [c.instance(now)])
            except (OSError, ValueError):
                return False
        c.wait(agrees, 60, "sum(nodectl_is_leader) == 1 on the agents' leader")
        leader = c.current_leader(everyone) or c.agreed_leader(everyone)
        index = c.name_index(leader)
        for series in ("nodectl_gossip_members", "nodectl_election_term",
                       "nodectl_transport_sent_bytes_total", "nodectl_cluster_power_watts",
                       "nodectl_agent_loop_seconds_count", "nodectl_host_vms"):
            assert query(pport, series), "no series " + series
        print("Prometheus: sum(nodectl_is_leader) = 1, leader %s" % leader)

        c.kill(index)
        rest = [i for i in range(c.n) if i != index]
        c.agreed_leader(rest, not_=leader)

        def moved():
            try:
                now = c.current_leader(rest, not_=leader)
                total = query(pport, "sum(nodectl_is_leader)")
                down = query(pport, "up == 0")
                return (now is not None and leader_instances(pport) == [c.instance(now)] and
                        float(total[0]["value"][1]) == 1 and
                        [r["metric"]["instance"] for r in down] == [c.instance(leader)])
            except (OSError, ValueError):
                return False
        c.wait(moved, 60, "Prometheus to show a new leader and %s down" % leader)
        print("Prometheus: after %s was killed, the leader is %s" %
              (leader, c.current_leader(rest) or "changing"))
        check_json_log(c.log_path(c.n - 1))
        if prom:
            prom.terminate()
            prom.wait(10)
            prom = None
        c.stop()
    except BaseException:
        print(c.logs(), file=sys.stderr)
        raise
    finally:
        if prom:
            prom.terminate()
            prom.wait(10)
        c.kill_all()
    shutil.rmtree(c.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
