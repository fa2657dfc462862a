"""Run a child command (dbt) so that it never outlives the ``lakehouse`` process that started it.

- The child runs in its own process group (so its own children, e.g. PII workers, go with it).
- On Linux the child gets ``PR_SET_PDEATHSIG`` = SIGKILL (prctl via ctypes, in a preexec hook): the
  kernel kills it the moment the parent dies, even by SIGKILL.
- A small watchdog process (any POSIX system) polls the parent; when the parent is gone it kills the
  child's whole process group, then exits. It also exits when the group is gone.
- SIGINT / SIGTERM received by the parent are forwarded to the group.

A killed build therefore never goes on to publish: the exporter runs inside dbt.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Mapping, Sequence

PR_SET_PDEATHSIG = 1
WATCHDOG_POLL_SECONDS = 0.5

# the watchdog: argv = parent pid, child process group id; nothing but the standard library
_WATCHDOG = """
import os, signal, sys, time
parent, group = int(sys.argv[1]), int(sys.argv[2])
signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    try:
        os.killpg(group, 0)
    except (ProcessLookupError, PermissionError):
        sys.exit(0)
    if os.getppid() != parent:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
        sys.exit(0)
    time.sleep(%s)
""" % WATCHDOG_POLL_SECONDS


def _child_setup() -> None:
    """preexec: own process group; on Linux die with the parent."""
    os.setpgid(0, 0)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):   # no prctl: the watchdog still covers it
            pass


def run_supervised(cmd: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: str | None = None) -> int:
    """Run ``cmd`` to completion as described in the module docstring; its exit code."""
    if os.name != "posix":
        return subprocess.call(list(cmd), env=dict(env) if env is not None else None, cwd=cwd)
    proc = subprocess.Popen(list(cmd), env=dict(env) if env is not None else None, cwd=cwd,
                            preexec_fn=_child_setup)  # noqa: PLW1509 (preexec is the point)
    group = proc.pid
    watchdog = subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(group)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)

    def forward(signum: int, _frame: object) -> None:
        try:
            os.killpg(group, signum)
        except ProcessLookupError:
            pass

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return proc.wait()
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        try:   # the child is done: end what is left of its group (stray workers), and the watchdog
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            watchdog.wait(timeout=5 * WATCHDOG_POLL_SECONDS + 5)
        except subprocess.TimeoutExpired:
            watchdog.kill()
