#!/usr/bin/python3
"""The dashboard in a real headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium) on a 3-agent cluster. Two tabs: the
page of a host that does not lead and the leader's. Both list the 3 hosts
and their VMs and show the same leader, states and roles (any agent
answers from gossip); the other host's page names the leader where the
plan would be, the leader's shows its plan. After the leader is killed the
other host's page shows the new leader, and the old one suspect or dead,
without a reload. A screenshot of each is saved in the directory given
(the build directory's test artifacts). A request whose Host names another
site (DNS rebinding) is refused by a real agent and counted; a VM whose
name is markup is shown as text.

usage: test_dashboard.py NODECTL_BINARY ARTIFACT_DIR"""
import os
import shutil
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402

import page  # noqa: E402
from page import shown  # noqa: E402


def plan_head(drv):
    return drv.execute_script('return document.getElementById("plan-head").textContent')


def markup_stays_text(drv):
    """A name that is markup is shown as text on the page: no element made
    of it, no script run."""
    pwned, imgs, text = drv.execute_script("""
        return [window.pwned === undefined ? null : window.pwned,
                document.querySelectorAll("#hosts img").length,
                document.getElementById("hosts").textContent];""")
    assert pwned is None and imgs == 0, "a VM's name was taken as markup: ran %s, %d img" % (
        pwned, imgs)
    assert cluster.HOSTILE_VM in text, "the VM named %s is not shown" % cluster.HOSTILE_VM


def rebinding_refused(c, i):
    """A page of evil.example whose name resolves to the agent's address
    asks for /api/state: 403, counted as reason "host"."""
    req = urllib.request.Request(c.url(i, "/api/state"), headers={"Host": "evil.example"})
    try:
        urllib.request.urlopen(req, timeout=2).read()
        raise AssertionError("a request with Host: evil.example was answered")
    except urllib.error.HTTPError as e:
        assert e.code == 403, "Host: evil.example got %d, not 403" % e.code
    metrics = cluster.get(c.url(i, "/metrics"))
    assert 'nodectl_rejected_total{component="http",reason="host"} 1' in metrics, \
        "the refusal of Host: evil.example is not counted"


def main():
    cluster.isolate()
    artifacts = sys.argv[2]
    os.makedirs(artifacts, exist_ok=True)
    for old in ("dashboard.png", "dashboard-leader.png", "dashboard-after-failover.png",
                "dashboard-failed.png"):
        if os.path.exists(os.path.join(artifacts, old)):
            os.remove(os.path.join(artifacts, old))
    c = cluster.Cluster(sys.argv[1], hostile_vm=True)
    drv = None
    try:
        c.start()
        everyone = range(c.n)
        want = {c.name(i): sorted([c.name(i) + "-db", c.name(i) + "-web"]) for i in range(c.n)}
        want[c.name(0)] = sorted(want[c.name(0)] + [cluster.HOSTILE_VM])
        drv = page.browser(os.path.join(c.dir, "chromium"))
        tabs = {"other": drv.current_window_handle}
        drv.switch_to.new_window("tab")
        tabs["leader"] = drv.current_window_handle
        at = {}

        def open_pages(leader):
            """The leader's page in one tab, a host that does not lead in the
            other."""
            at["leader"] = c.name_index(leader)
            at["other"] = (at["leader"] + 1) % c.n
            for tab in ("other", "leader"):
                drv.switch_to.window(tabs[tab])
                drv.get(c.url(at[tab]))

        def view(tab):
            drv.switch_to.window(tabs[tab])
            return shown(drv)

        def same_on_both():
            """Both pages show every host and VM, alive, and the leader the
            agents agree on now; the same on both; the other host's page names
            the leader, the leader's shows its plan."""
            lead = c.current_leader(everyone)
            if lead is None:
                return False
            if at.get("leader") != c.name_index(lead):  # (again) after a change of leader
                open_pages(lead)
                return False
            seen = view("other")
            if not (seen[0] == lead and {h: v[2] for h, v in seen[1].items()} == want and
                    all(v[0] == "alive" for v in seen[1].values()) and
                    seen[1][lead][1] == "leader"):
                return False
            head = plan_head(drv)
            if not head.endswith("the leader is " + lead):
                return False
            return view("leader") == seen and plan_head(drv).startswith("term ")
        c.wait(same_on_both, 60, "both pages to show 3 hosts, their VMs and the same leader")
        leader = view("leader")[0]
        drv.save_screenshot(os.path.join(artifacts, "dashboard-leader.png"))
        other = at["other"]
        view("other")
        drv.save_screenshot(os.path.join(artifacts, "dashboard.png"))
        print("pages of %s and of the leader %s: the same hosts %s, the same leader" %
              (c.name(other), leader, sorted(want)))
        markup_stays_text(drv)
        print("the VM named %s is shown as text" % cluster.HOSTILE_VM)
        rebinding_refused(c, other)
        print("Host: evil.example refused (403) and counted by %s" % c.name(other))

        doc = drv.execute_script("return window.performance.timeOrigin")
        index = c.name_index(leader)
        c.kill(index)
        rest = [i for i in range(c.n) if i != index]
        c.agreed_leader(rest, not_=leader)

        def moved():
            """The other host's page shows the new leader, the old one
            suspect or dead, and (unless it now leads itself) names the new
            leader where the plan would be."""
            lead, hosts = shown(drv)
            head = plan_head(drv)
            return (lead != leader and lead == c.current_leader(rest) and
                    set(hosts) == set(want) and
                    hosts.get(lead, ("", ""))[1] == "leader" and
                    hosts.get(leader, ("",))[0] in ("suspect", "dead") and
                    (head.startswith("term ") if lead == c.name(other)
                     else head.endswith("the leader is " + lead)))
        c.wait(moved, 60, "the page of %s to show a new leader" % c.name(other))
        new, _ = shown(drv)
        # The same document, updated in place: no reload happened.
        assert drv.execute_script("return window.performance.timeOrigin") == doc
        drv.save_screenshot(os.path.join(artifacts, "dashboard-after-failover.png"))
        print("after %s was killed the page of %s shows leader %s, without a reload" %
              (leader, c.name(other), new))
        drv.quit()
        drv = None
        c.stop()
    except BaseException:
        if drv:
            drv.save_screenshot(os.path.join(artifacts, "dashboard-failed.png"))
        print(c.logs(), file=sys.stderr)
        raise
    finally:
        if drv:
            drv.quit()
        c.kill_all()
    shutil.rmtree(c.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
