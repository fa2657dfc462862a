"""Injectable kill points: crash tests stop a real process at a named step of a multi-table write.

    kill_point("landing.after_raw_commit")

does nothing unless the environment variable ``LAKEHOUSE_KILL_AT`` names that point (a comma-
separated list is allowed), in which case the process ends at once with ``os._exit(KILL_EXIT_CODE)``:
no ``finally`` blocks, no atexit handlers, no flushing, the way a SIGKILL or power loss would leave
it. Tests in tests/test_faults.py run a command with the variable set, then rerun it without and
check that the lakehouse converges. Every point is listed in :data:`KILL_POINTS` (a test checks that
each one is reached by some test).
"""

from __future__ import annotations

import os
import sys

ENV = "LAKEHOUSE_KILL_AT"
KILL_EXIT_CODE = 137   # what a shell reports for SIGKILL

KILL_POINTS: dict[str, str] = {
    "landing.after_raw_commit": "a file's rows are committed to raw/<source>, its catalog/landings row is not",
    "publish.before_place": "the staged release folder is complete (manifest included), not yet renamed into place",
    "publish.after_folder": "the release folder is in place (manifest written), catalog/release_records is not",
    "curated.after_commit": "a curated model's Delta table is committed, its staged file (beside the build "
                            "DuckDB) is not removed and the later curated models have not run",
}


def kill_point(name: str) -> None:
    """End the process here when ``LAKEHOUSE_KILL_AT`` names ``name`` (no cleanup runs)."""
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    if name not in KILL_POINTS:
        raise ValueError(f"unknown kill point {name!r}: add it to lakehouse.faults.KILL_POINTS")
    if name in {w.strip() for w in wanted.split(",")}:
        try:
            sys.stderr.write(f"lakehouse: killed at {name} ({ENV})\n")
            sys.stderr.flush()
        finally:
            os._exit(KILL_EXIT_CODE)
