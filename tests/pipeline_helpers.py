"""Helpers for tests that land files and run `dbt build --select release` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@dataclass
class DbtResult:
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def dbt_env(work: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["LAKEHOUSE_DUCKDB_PATH"] = str(work / "lakehouse.duckdb")
    env["LAKEHOUSE_PROJECT_DIR"] = str(REPO)
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    env.setdefault("DO_NOT_TRACK", "1")
    # test fixtures are small: per-record stages run in the dbt process (models load once per
    # build instead of once per worker); tests of the engines set LAKEHOUSE_WORKERS themselves
    env.setdefault("LAKEHOUSE_WORKERS", "0")
    if extra:
        env.update(extra)
    return env


def run_dbt(work: Path, *args: str, vars: dict | None = None, env: dict[str, str] | None = None,
            command: str = "build", select: str | None = "release") -> DbtResult:
    """Run dbt against the repo's project with an isolated target, log folder and DuckDB file."""
    work.mkdir(parents=True, exist_ok=True)
    cmd = [str(BIN / "dbt"), command]
    if select:
        cmd += ["--select", select]
    cmd += ["--project-dir", str(REPO), "--profiles-dir", str(REPO), "--target-path", str(work / "target"),
            "--log-path", str(work / "logs"), "--no-use-colors"]
    if vars:
        cmd += ["--vars", json.dumps(vars)]
    cmd += list(args)
    p = subprocess.run(cmd, cwd=str(REPO), env=dbt_env(work, env), capture_output=True, text=True, timeout=900)
    return DbtResult(p.returncode, p.stdout + p.stderr)


def release_files(root: str, version: str) -> dict[str, bytes]:
    """Every file of a local release (key -> bytes)."""
    base = Path(root) / "exports" / "releases" / version
    return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}
