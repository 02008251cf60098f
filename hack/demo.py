#!/usr/bin/env python3
"""Process bookkeeping for hack/demo.sh: the operator it runs in the background, recorded like the cluster's own.

    demo.py start LOG -- CMD...   start CMD in its own session (stdin /dev/null, stdout+stderr appended to LOG),
                                  record it in .cluster/pids as `cni-operator PID START`, print the pid
    demo.py pid                   print the pid of the recorded operator and exit 0 if it is alive, else exit 1
    demo.py stop                  SIGTERM the recorded operator (SIGKILL after 20 s) and drop it from .cluster/pids
    demo.py free-port             print a free TCP port on 127.0.0.1

The pids file is hack/localcluster.py's (`component pid start-time` per line), so `make cluster-down` stops the
operator first, before the API server it needs to leave its peering cleanly. A pid counts only together with the
start time recorded when it was launched, so a reused pid is never signalled. Standard library only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import localcluster as lc

# The name in .cluster/pids; `make demo-fleet` (hack/demo-fleet.sh) sets CNI_OPERATOR_DEMO_COMPONENT=cni-operator-fleet
# so each demo stops only its own operator.
COMPONENT = os.environ.get("CNI_OPERATOR_DEMO_COMPONENT") or "cni-operator"
STOP_GRACE_S = 20.0


def recorded() -> list[tuple[str, int, str]]:
    return [e for e in lc.read_pids() if e[0] == COMPONENT]


def alive_pid() -> int | None:
    for _, pid, start in recorded():
        if lc.is_ours_and_alive(pid, start):
            return pid
    return None


def forget() -> None:
    """Drop every operator line from the pids file, keeping the control plane's lines as they are."""
    try:
        lines = lc.P.pids.read_text().splitlines()
    except OSError:
        return
    keep = [line for line in lines if line.split()[:1] != [COMPONENT]]
    lc.P.pids.write_text("".join(f"{line}\n" for line in keep))


def cmd_start(log: str, argv: list[str]) -> int:
    if not lc.P.pids.exists():
        print(
            "error: no local cluster (.cluster/pids is missing); run `make cluster-up` first", file=sys.stderr
        )
        return 1
    with open(log, "ab") as out, open(os.devnull, "rb") as devnull:
        # Its own session: Ctrl-C in the terminal that ran `make demo` does not reach it; `make cluster-down` does.
        proc = subprocess.Popen(
            argv, stdin=devnull, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    lc.record_pid(COMPONENT, proc.pid)
    print(proc.pid)
    return 0


def cmd_stop() -> int:
    entries = recorded()
    alive = [(pid, start) for _, pid, start in entries if lc.is_ours_and_alive(pid, start)]
    for pid, _ in alive:
        os.kill(pid, signal.SIGTERM)  # kopf leaves its peering and stops the watches
    deadline = time.monotonic() + STOP_GRACE_S
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [(pid, start) for pid, start in alive if lc.is_ours_and_alive(pid, start)]
    for pid, _ in alive:
        print(f">> operator (pid {pid}) ignored SIGTERM for {STOP_GRACE_S:.0f}s; sending SIGKILL", flush=True)
        os.kill(pid, signal.SIGKILL)
    forget()
    return 0


def cmd_free_port() -> int:
    print(lc.listen_port())
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["start"] and len(argv) >= 4 and argv[2] == "--":
        return cmd_start(argv[1], argv[3:])
    if argv == ["pid"]:
        pid = alive_pid()
        if pid is None:
            return 1
        print(pid)
        return 0
    if argv == ["stop"]:
        return cmd_stop()
    if argv == ["free-port"]:
        return cmd_free_port()
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
