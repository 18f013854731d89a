#!/usr/bin/python3
"""The dashboard in a real headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium) on a 3-agent cluster: it lists the 3
hosts and their VMs and shows the leader; after the leader is killed it
shows the new one without a reload. A screenshot of each is saved in
the directory given (the build directory's test artifacts).

usage: test_dashboard.py NODECTL_BINARY ARTIFACT_DIR"""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402


def browser(profile):
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--user-data-dir=" + profile,
                # Nothing but the page: no updates, sync, or name lookups
                # beyond loopback (the namespace already allows no other).
                "--no-first-run", "--disable-background-networking", "--disable-sync",
                "--disable-component-update", "--disable-default-apps",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"),
                            options=opts)


def shown(drv):
    """What the page shows: the leader, and every host with its state, role
    and VMs; read in one script, as the page redraws itself."""
    leader, cards = drv.execute_script("""
        return [document.getElementById("leader").textContent,
                [...document.querySelectorAll("#hosts .host")].map((c) =>
                    [c.dataset.name, c.dataset.state, c.dataset.role,
                     [...c.querySelectorAll("li.vm")].map((li) => li.dataset.vm)
                                                     .filter((v) => v)])];""")
    return leader, {name: (state, role, sorted(vms)) for name, state, role, vms in cards}


def main():
    cluster.isolate()
    artifacts = sys.argv[2]
    os.makedirs(artifacts, exist_ok=True)
    for old in ("dashboard.png", "dashboard-after-failover.png", "dashboard-failed.png"):
        if os.path.exists(os.path.join(artifacts, old)):
            os.remove(os.path.join(artifacts, old))
    c = cluster.Cluster(sys.argv[1])
    drv = None
    try:
        c.start()
        everyone = range(c.n)
        first = c.agreed_leader(everyone)
        # Open the page on a host that does not lead: any agent answers.
        other = (c.name_index(first) + 1) % c.n
        drv = browser(os.path.join(c.dir, "chromium"))
        drv.get(c.url(other))
        want = {c.name(i): sorted([c.name(i) + "-db", c.name(i) + "-web"]) for i in range(c.n)}

        def complete():
            """The page shows every host and VM, and the leader the agents
            agree on now."""
            lead, hosts = shown(drv)
            return (lead == c.current_leader(everyone) and
                    {h: v[2] for h, v in hosts.items()} == want and
                    all(v[0] == "alive" for v in hosts.values()) and
                    hosts[lead][1] == "leader")
        c.wait(complete, 60, "the page to show 3 hosts, their VMs and the leader")
        leader, _ = shown(drv)
        index = c.name_index(leader)
        if index == other:  # the leader moved to the page's host: watch it from another
            other = (index + 1) % c.n
            drv.get(c.url(other))
            c.wait(lambda: shown(drv)[0] == leader, 30, "the page of %s" % c.name(other))
        drv.save_screenshot(os.path.join(artifacts, "dashboard.png"))
        print("dashboard on %s: hosts %s, leader %s" % (c.name(other), sorted(want), leader))

        page = drv.execute_script("return window.performance.timeOrigin")
        c.kill(index)
        rest = [i for i in range(c.n) if i != index]
        c.agreed_leader(rest, not_=leader)

        def moved():
            lead, hosts = shown(drv)
            return (lead != leader and lead == c.current_leader(rest) and
                    hosts.get(lead, ("", ""))[1] == "leader" and
                    hosts.get(leader, ("",))[0] in ("suspect", "dead"))
        c.wait(moved, 60, "the page to show a new leader")
        new, _ = shown(drv)
        # The same document, updated in place: no reload happened.
        assert drv.execute_script("return window.performance.timeOrigin") == page
        drv.save_screenshot(os.path.join(artifacts, "dashboard-after-failover.png"))
        print("after %s was killed the page shows leader %s, without a reload" % (leader, new))
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
