"""The dashboard in a real headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium), and what its page shows, read from
the DOM. Shared by test_dashboard.py (agents on loopback) and
test/rig/dashboard_shot.py (the rig demo, run inside a rig host)."""
from selenium import webdriver
from selenium.webdriver.chrome.service import Service


def browser(profile, allowed="127.0.0.1", size="1400,1000"):
    """A headless Chromium whose profile is in profile, that resolves no
    name and reaches no address but allowed (the dashboard's host): no
    updates, sync or lookups; the caller's network namespace allows no
    other address anyway."""
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=" + size, "--user-data-dir=" + profile,
                "--no-first-run", "--disable-background-networking", "--disable-sync",
                "--disable-component-update", "--disable-default-apps",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE " + allowed):
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


def plan_rows(drv):
    """The plan's rows as the page shows them: [action, state, reason]."""
    return drv.execute_script("""
        return [...document.querySelectorAll("#plan tbody tr")]
            .filter((tr) => tr.cells.length === 4)
            .map((tr) => [tr.cells[1].textContent, tr.cells[2].textContent,
                          tr.cells[3].textContent]);""")


def migrations_shown(drv):
    """The migrations under way the host cards show ("→ VM to HOST")."""
    return drv.execute_script("""
        return [...document.querySelectorAll("#hosts li.vm")]
            .filter((li) => !li.dataset.vm)
            .map((li) => [...li.children].map((c) => c.textContent).join(" "));""")
