"""A watchdog that ends the engine's worker processes when the build process dies.

Ray's local head (raylet, GCS, agents) and the local pool's workers are children of the build;
if the build is killed (SIGKILL, OOM killer) some of them would outlive it. The watchdog is a
small process in its own session: while the build lives it notes the build's descendants every
second; when the build is gone it kills every one of them still running (matched by pid and start
time, so a reused pid is never hit).

    python -m lakehouse.engine.watchdog <build pid>
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

_STARTED: set[int] = set()


def start(parent_pid: int | None = None) -> None:
    """Start the watchdog for ``parent_pid`` (default: this process) once per process."""
    pid = parent_pid or os.getpid()
    if pid in _STARTED:
        return
    _STARTED.add(pid)
    subprocess.Popen([sys.executable, "-m", "lakehouse.engine.watchdog", str(pid)], start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True)


def _psutil():  # type: ignore[no-untyped-def]
    try:
        import psutil
    except ImportError:  # Ray vendors it
        from ray.thirdparty_files import psutil  # type: ignore[no-redef]
    return psutil


def watch(parent_pid: int, interval: float = 1.0) -> None:
    psutil = _psutil()
    try:
        parent = psutil.Process(parent_pid)
        parent_started = parent.create_time()
        pgid = os.getpgid(parent_pid)
    except (psutil.NoSuchProcess, ProcessLookupError):
        return
    seen: dict[int, float] = {}
    me = os.getpid()
    while True:
        try:
            if not parent.is_running() or parent.create_time() != parent_started or parent.status() == psutil.STATUS_ZOMBIE:
                break
            for child in parent.children(recursive=True):
                if child.pid == me:
                    continue
                try:
                    seen.setdefault(child.pid, child.create_time())
                except psutil.NoSuchProcess:
                    pass
        except psutil.NoSuchProcess:
            break
        time.sleep(interval)
    for pid, created in seen.items():
        try:
            p = psutil.Process(pid)
            if p.create_time() == created:
                p.kill()
        except psutil.NoSuchProcess:
            pass
    # Ray's agents are started detached by the raylet (re-parented at once, in the build's process
    # group): orphans of that group, started after the build, named by Ray
    time.sleep(2 * interval)  # let the raylet's detached children be re-parented
    for p in psutil.process_iter(["pid", "ppid", "name", "create_time"]):
        try:
            info = p.info
            if (info["pid"] != me and info["ppid"] == 1 and info["create_time"] >= parent_started and os.getpgid(p.pid) == pgid
                    and (info["name"] or "").startswith(("ray::", "raylet", "gcs_server"))):
                p.kill()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, ProcessLookupError):
            pass


if __name__ == "__main__":
    watch(int(sys.argv[1]))
