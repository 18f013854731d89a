#!/usr/bin/python3
"""A screenshot of the leader at work, for the rig demo (leader-demo.sh
tour). Run inside a rig host (rig exec): a headless Chromium there opens
the dashboard at URL and watches the page, as an operator would, until it
shows an action of the plan under way (state "dispatched": a migration
running or a host powering off); then it saves the page as OUT (PNG) and
prints the plan's rows and the migrations the hosts show.

usage: dashboard_shot.py URL OUT.png PROFILE_DIR [TIMEOUT_S]
exit: 0 shot taken, 1 nothing under way within TIMEOUT_S (default 180)"""
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "http"))
import page  # noqa: E402


def under_way(rows):
    return any(state == "dispatched" for _, state, _ in rows)


def main():
    if len(sys.argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    url, out, profile = sys.argv[1:4]
    timeout = float(sys.argv[4]) if len(sys.argv) == 5 else 180.0
    drv = page.browser(profile, allowed=urllib.parse.urlsplit(url).hostname, size="1280,900")
    try:
        drv.get(url)
        page.plan_rows(drv)
        print("watching %s" % url, flush=True)
        end = time.time() + timeout
        while time.time() < end:
            rows = page.plan_rows(drv)
            if under_way(rows):
                drv.save_screenshot(out)
                # The page redraws every 2 s: the shot is of this moment
                # when the page still shows the same rows after it.
                if page.plan_rows(drv) != rows:
                    continue
                for what, state, why in rows:
                    print("  %-10s %s: %s" % (state, what, why))
                for m in page.migrations_shown(drv):
                    print("  host card: %s" % m)
                return 0
            time.sleep(0.2)
        print("dashboard_shot: nothing under way on %s within %.0f s" % (url, timeout),
              file=sys.stderr)
        return 1
    finally:
        drv.quit()


if __name__ == "__main__":
    sys.exit(main())
