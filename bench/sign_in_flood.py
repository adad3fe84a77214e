"""Peak memory and time of a sign-in flood: 20 concurrent sign-ins with wrong passwords, then the
right one, in a fresh process per setting (peak RSS = VmHWM of that process).

Compared: the throttle as shipped (at most 2 argon2 checks at once, back-off after 5 failures)
against no bound (20 checks at once), so the figure is a ratio on the same machine.

    .venv/bin/python bench/sign_in_flood.py
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = r"""
import json, sys, threading, time
sys.path.insert(0, sys.argv[1])
from lungseg_core.people.access_control import command_line_user
from lungseg_core.people.accounts import SignInError, UserDirectory
from lungseg_core.people.sign_in_throttle import SignInThrottle

def vm(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024
bound = int(sys.argv[3])
users = UserDirectory(sys.argv[2] + "/store.sqlite", throttle=SignInThrottle(max_concurrent=bound, queue_wait_s=60))
users.add_user(command_line_user(), "alice", "annotator", "the right password 1", must_change_password=False)
base = vm("VmRSS:")
outcomes = []
def attempt(i):
    try:
        users.sign_in("alice", f"wrong {i}", client=f"10.0.0.{i}")
    except SignInError as exc:
        outcomes.append("throttled" if "too many" in str(exc) else "busy" if "busy" in str(exc) else "refused")
threads = [threading.Thread(target=attempt, args=(i,)) for i in range(20)]
started = time.perf_counter()
for t in threads: t.start()
for t in threads: t.join()
flood_s = time.perf_counter() - started
print(json.dumps({"bound": bound, "base_mb": base, "peak_mb": vm("VmHWM:"), "flood_s": flood_s,
                  "outcomes": {k: outcomes.count(k) for k in set(outcomes)}}))
"""


def run(bound: int) -> dict:
    with tempfile.TemporaryDirectory() as store:
        out = subprocess.run([sys.executable, "-c", _CHILD, str(ROOT), store, str(bound)], capture_output=True,
                             text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    shipped, unbounded = run(2), run(20)
    for r in (shipped, unbounded):
        print(f"{r['bound']:>2} checks at once: peak RSS {r['peak_mb']:.0f} MB (before the flood {r['base_mb']:.0f} MB, "
              f"+{r['peak_mb'] - r['base_mb']:.0f} MB), 20 attempts in {r['flood_s']:.1f} s, outcomes {r['outcomes']}")
    print(f"memory added by the flood, shipped / unbounded: "
          f"{(shipped['peak_mb'] - shipped['base_mb']) / max(1e-9, unbounded['peak_mb'] - unbounded['base_mb']):.2f}")


if __name__ == "__main__":
    main()
