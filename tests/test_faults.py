"""Fault injection: a process killed at each step of a multi-table write, then a rerun that converges.

Kill points live in lakehouse/faults.py (``kill_point("...")``, armed by ``LAKEHOUSE_KILL_AT``). A new
failure mode joins by adding a point there and a case here: kill, check the damage is what the
point says, rerun without the variable, check every table agrees again. ``test_every_kill_point_is_tested``
keeps the two lists in step.

One dbt build (module fixture) gives the marts; the publish cases then run ``publish_release`` in a
subprocess on those tables (seconds each), the way the dbt export model calls it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lakehouse.faults import ENV, KILL_EXIT_CODE, KILL_POINTS
from test_query_support import local_env

REPO = Path(__file__).resolve().parents[1]

PUBLISH = textwrap.dedent("""
    import sys, duckdb
    from lakehouse import duck
    from lakehouse.config import Settings
    from lakehouse.export.publish import ReleaseInputs, publish_release
    from lakehouse.storage import Storage
    con = duckdb.connect(sys.argv[1], read_only=True)
    duck.configure(con, Settings.from_env())
    t = con.table
    res = publish_release(Storage.from_env(), ReleaseInputs(
        release=t("release_conversations"), conversations=t("conversations"), quarantine=t("quarantine"),
        coverage=t("coverage"), stages=t("curriculum_stages"), stats=t("release_stats"),
        near_removals=t("near_duplicate_removals"), registry=t("dataset_registry"), gates=["test"]),
        version=sys.argv[2], seed=42)
    con.close()   # before interpreter teardown (an open connection there once aborted: "terminate called")
    print(res.status, flush=True)
""")


def _run(args: list[str], env: dict[str, str], kill_at: str | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(env)
    env.pop(ENV, None)
    if kill_at:
        env[ENV] = kill_at
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, cwd=str(REPO))


PII_FILE = "jane.doe@example.org.jsonl"
BAD_CSV = 'id,question,answer\n1,"How do I sleep?,Try a routine.\n2,How do I rest?,"Slow breathing, then lights out."\n'


@pytest.fixture(scope="module")
def lake(tmp_path_factory):  # type: ignore[no-untyped-def]
    """The query fixture lakehouse, plus a file named after a person and a CSV with an unclosed quote."""
    from lakehouse.landing import land
    from pipeline_helpers import run_dbt
    from test_query_support import BuiltLakehouse, build_vars, land_inputs, write_inputs

    work = tmp_path_factory.mktemp("faults")
    root = str(work / "lakehouse")
    built = BuiltLakehouse(root=root, env=local_env(root), work=work)
    st = built.storage()
    built.files = write_inputs(work / "inputs")
    land_inputs(built.files, st)
    named = work / "inputs" / "named" / PII_FILE
    named.parent.mkdir()
    named.write_text(json.dumps({"messages": [
        {"role": "user", "content": "Some nights my thoughts race and I cannot settle at all."},
        {"role": "assistant", "content": "That sounds hard. What helps you wind down, even a little?"}]}) + "\n")
    csv_file = work / "inputs" / "qa" / "qa.csv"
    csv_file.parent.mkdir()
    csv_file.write_text(BAD_CSV)
    for path, source in ((named, "named_file"), (csv_file, "qa_csv")):
        rep = land([str(path)], source=source, family="mental_health_datasets", license_tag="CC0-1.0", storage=st)
        assert not rep.failed, [f.error for f in rep.failed]
    res = run_dbt(work / "dbt", vars=build_vars(), env=built.env)
    assert res.ok, res.output[-5000:]
    return built


def _release_bytes(lake) -> bytes:  # type: ignore[no-untyped-def]
    base = Path(lake.root) / "exports" / "releases"
    return b"".join(p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file())


def test_release_holds_no_host_path(lake):
    from deltalake import DeltaTable

    blob = _release_bytes(lake)
    assert blob and str(lake.work).encode() not in blob and str(Path.home()).encode() + b"/" not in blob
    keys = set(DeltaTable(str(Path(lake.root) / "curated" / "conversations")).to_pyarrow_table(
        columns=["source_key"]).column("source_key").to_pylist())
    assert keys and not any(k.startswith("/") or "://" in k for k in keys), keys
    assert "clinic/notes.jsonl" not in keys and "notes.jsonl" in keys      # relative to what was landed


def test_file_name_pii_is_not_released(lake):
    blob = _release_bytes(lake)
    assert PII_FILE.encode() not in blob
    assert b"jane.doe@example.org" not in blob


def test_malformed_csv_row_is_quarantined_with_its_line(lake):
    import duckdb

    from lakehouse import duck

    con = duckdb.connect(str(lake.work / "dbt" / "lakehouse.duckdb"), read_only=True)
    duck.configure(con, lake.storage().settings)
    rows = con.execute("select row_number, line_number, parse_error_code, record from stg_lakehouse__raw_records "
                       "where source_name = 'qa_csv' order by row_number").fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [(1, 2, "invalid_csv"), (2, 3, None)]
    assert rows[0][3] == '1,"How do I sleep?,Try a routine.'                 # the original line, kept
    q = con.execute("select reason_code, raw_record from quarantine where source_name = 'qa_csv' "
                    "and row_number = 1").fetchall()          # (row 2 may meet the clinical quality rules)
    assert len(q) == 1 and q[0][1] == rows[0][3]
    con.close()
    assert q[0][0] == "invalid_csv"


def _publish(lake, version: str, kill_at: str | None = None) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    db = str(lake.work / "dbt" / "lakehouse.duckdb")
    return _run([sys.executable, "-c", PUBLISH, db, version], lake.env, kill_at)


def _index(lake) -> dict[str, int]:  # type: ignore[no-untyped-def]
    from deltalake import DeltaTable

    t = DeltaTable(str(Path(lake.root) / "catalog" / "release_records")).to_pyarrow_table(columns=["version"])
    out: dict[str, int] = {}
    for v in t.column("version").to_pylist():
        out[v] = out.get(v, 0) + 1
    return out


def _manifest_records(lake, version: str) -> int:  # type: ignore[no-untyped-def]
    m = json.loads((Path(lake.root) / "exports" / "releases" / version / "manifest.json").read_text())
    return int(m["counts"]["records"])


def _staging_folders(lake) -> list[str]:  # type: ignore[no-untyped-def]
    base = Path(lake.root) / "exports" / "releases"
    return sorted(p.name for p in base.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


# -- publish ---------------------------------------------------------------------------------------
def test_kill_after_release_folder_then_rerun_fills_the_index(lake):
    res = _publish(lake, "v-k1", kill_at="publish.after_folder")
    assert res.returncode == KILL_EXIT_CODE, res.stderr[-2000:]
    assert (Path(lake.root) / "exports" / "releases" / "v-k1" / "manifest.json").exists()
    assert "v-k1" not in _index(lake)                       # the damage the kill point describes
    res = _publish(lake, "v-k1")
    assert res.returncode == 0 and res.stdout.strip() == "unchanged", res.stderr[-2000:]
    assert _index(lake)["v-k1"] == _manifest_records(lake, "v-k1") > 0


def test_index_of_a_killed_release_is_rebuilt_by_the_next_version(lake):
    res = _publish(lake, "v-k2", kill_at="publish.after_folder")
    assert res.returncode == KILL_EXIT_CODE
    assert "v-k2" not in _index(lake)
    res = _publish(lake, "v-k3")                            # another version: v-k2 is re-derived from its shards
    assert res.returncode == 0, res.stderr[-2000:]
    idx = _index(lake)
    assert idx["v-k2"] == _manifest_records(lake, "v-k2") and idx["v-k3"] == _manifest_records(lake, "v-k3")
    from deltalake import DeltaTable

    t = DeltaTable(str(Path(lake.root) / "catalog" / "release_records")).to_pyarrow_table()
    rows = {v: sorted((r["record_id"], r["content_hash"], r["split"], r["shard_key"]) for r in t.to_pylist()
                      if r["version"] == v) for v in ("v-k2", "v-k3")}
    assert rows["v-k2"] == rows["v-k3"]                     # same marts: shards give the same rows as the relation


@pytest.mark.parametrize("point", ["publish.before_place"])
def test_kill_before_the_folder_is_placed_leaves_no_release_and_rerun_cleans_staging(lake, point):
    version = "v-" + point.split(".")[1].replace("_", "")
    res = _publish(lake, version, kill_at=point)
    assert res.returncode == KILL_EXIT_CODE, res.stderr[-2000:]
    assert not (Path(lake.root) / "exports" / "releases" / version).exists()
    assert any(name.startswith(f".{version}.tmp-") for name in _staging_folders(lake))
    res = _publish(lake, version)
    assert res.returncode == 0 and res.stdout.strip() == "published", res.stderr[-2000:]
    assert _staging_folders(lake) == []
    assert _index(lake)[version] == _manifest_records(lake, version)
    verify = _run([sys.executable, "-m", "lakehouse.cli", "release", "verify", version], lake.env)
    assert verify.returncode == 0, verify.stdout + verify.stderr


STORE = textwrap.dedent("""
    import sys
    from lakehouse.export.curated import store_staged
    from lakehouse.storage import Storage
    print(store_staged(Storage.from_env(), sys.argv[1], "curated/conversations"), flush=True)
""")


def test_kill_after_a_curated_commit_then_the_next_build_converges(tmp_path):
    """The store step of a curated dbt model (lakehouse/export/curated.py), killed after its Delta
    commit: the table is whole, the staged file stays in the build's private folder (never under the
    root) until the next build stages and stores again and removes it."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from deltalake import DeltaTable

    root = tmp_path / "lake"
    env = local_env(str(root))
    build = tmp_path / "build"
    build.mkdir(mode=0o700)
    staged = build / ".curated_conversations.staged.parquet"
    pq.write_table(pa.table({"record_id": [f"r{i}" for i in range(3)]}), staged)
    res = _run([sys.executable, "-c", STORE, str(staged)], env, kill_at="curated.after_commit")
    assert res.returncode == KILL_EXIT_CODE, res.stderr[-2000:]
    assert DeltaTable(str(root / "curated" / "conversations")).to_pyarrow_table().num_rows == 3
    assert staged.exists() and not list(root.rglob("*.staged.parquet"))
    pq.write_table(pa.table({"record_id": [f"r{i}" for i in range(4)]}), staged)   # the next build stages again
    res = _run([sys.executable, "-c", STORE, str(staged)], env)
    assert res.returncode == 0 and res.stdout.strip() == "4", res.stderr[-2000:]
    assert not staged.exists()
    t = DeltaTable(str(root / "curated" / "conversations"))
    assert t.version() == 1 and t.to_pyarrow_table().num_rows == 4


def test_stale_staging_of_an_older_version_or_dead_process_is_removed(tmp_path):
    from lakehouse.export.release_index import clean_stale_staging

    base = tmp_path
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    old_style = base / ".v-x.tmp-abc123"
    dead_pid = base / f".v-x.tmp-{host}-{dead.pid}-q1w2e3"
    alive = base / f".v-x.tmp-{host}-{os.getppid()}-r4t5y6"
    for p in (old_style, dead_pid, alive):
        p.mkdir()
    removed = clean_stale_staging(str(base))
    assert sorted(removed) == sorted([old_style.name, dead_pid.name])
    assert alive.exists()
    alive.rmdir()


# -- landing ---------------------------------------------------------------------------------------
def test_kill_between_raw_and_catalog_commits_then_reland_converges(tmp_path):
    from deltalake import DeltaTable

    root = tmp_path / "lake"
    env = local_env(str(root))
    f = tmp_path / "in" / "chats.jsonl"
    f.parent.mkdir()
    f.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"hi {i}"},
                                                  {"role": "assistant", "content": "hello"}]}) + "\n"
                         for i in range(4)) + "{broken\n")
    cmd = [sys.executable, "-m", "lakehouse.cli", "land", str(f), "--source", "crash", "--family",
           "mental_health_datasets", "--license", "MIT", "--no-progress"]
    res = _run(cmd, env, kill_at="landing.after_raw_commit")
    assert res.returncode == KILL_EXIT_CODE, res.stdout + res.stderr
    assert DeltaTable(str(root / "raw" / "crash")).to_pyarrow_table().num_rows == 5
    assert not (root / "catalog" / "landings").exists()
    res = _run(cmd, env)
    assert res.returncode == 0 and "skipped" in res.stdout, res.stdout + res.stderr
    cat = DeltaTable(str(root / "catalog" / "landings")).to_pyarrow_table().to_pylist()
    assert len(cat) == 1
    row = cat[0]
    assert row["rows_read"] == 5 and row["parse_errors"] == 1 and row["source_key"] == "chats.jsonl"
    assert row["shape"] == "chatml" and "recovered" in row["shape_reason"]
    res = _run(cmd, env)                                    # converged: a third run changes nothing
    assert len(DeltaTable(str(root / "catalog" / "landings")).to_pyarrow_table()) == 1


# -- the parent of dbt is killed ---------------------------------------------------------------------
FAKE_DBT = textwrap.dedent("""\
    #!{python}
    # stands in for dbt: starts a worker (like the PII pool), then "publishes" after a pause
    import os, subprocess, sys, time
    out = os.environ["FAKE_DBT_DIR"]
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    open(os.path.join(out, "pids"), "w").write(f"{{os.getpid()}} {{worker.pid}}")
    time.sleep(4)
    open(os.path.join(out, "published"), "w").write("yes")
""")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:   # a zombie (killed, not yet reaped by its parent) counts as dead
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


@pytest.mark.skipif(os.name != "posix", reason="process groups and signals")
def test_sigkill_of_lakehouse_build_stops_dbt_before_it_publishes(tmp_path):
    fake = tmp_path / "dbt"
    fake.write_text(FAKE_DBT.format(python=sys.executable))
    fake.chmod(0o755)
    env = {**local_env(str(tmp_path / "lake")), "LAKEHOUSE_DBT": str(fake), "FAKE_DBT_DIR": str(tmp_path)}
    parent = subprocess.Popen([sys.executable, "-m", "lakehouse.cli", "build"], env=env, cwd=str(REPO),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pids_file = tmp_path / "pids"
    deadline = time.time() + 60
    while not pids_file.exists() and time.time() < deadline:
        time.sleep(0.1)
    assert pids_file.exists(), "fake dbt did not start"
    time.sleep(0.3)
    dbt_pid, worker_pid = (int(x) for x in pids_file.read_text().split())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 5
    while (_alive(dbt_pid) or _alive(worker_pid)) and time.time() < deadline:
        time.sleep(0.1)
    assert not _alive(dbt_pid) and not _alive(worker_pid)
    time.sleep(4.5)                                          # past the moment the fake dbt would publish
    assert not (tmp_path / "published").exists()


FAKE_DBT_DB = textwrap.dedent("""\
    #!{python}
    import os, stat
    db = os.environ["LAKEHOUSE_DUCKDB_PATH"]
    open(db, "w").write("intermediate tables")
    mode = stat.S_IMODE(os.stat(os.path.dirname(db)).st_mode)
    open(os.path.join(os.environ["FAKE_DBT_DIR"], "db"), "w").write(f"{{db}} {{mode:o}}")
    raise SystemExit(3)
""")


def test_build_database_lives_in_a_private_folder_removed_after_the_build(tmp_path):
    fake = tmp_path / "dbt"
    fake.write_text(FAKE_DBT_DB.format(python=sys.executable))
    fake.chmod(0o755)
    env = {**local_env(str(tmp_path / "lake")), "LAKEHOUSE_DBT": str(fake), "FAKE_DBT_DIR": str(tmp_path)}
    env.pop("LAKEHOUSE_DUCKDB_PATH", None)
    res = subprocess.run([sys.executable, "-m", "lakehouse.cli", "build"], env=env, cwd=str(REPO),
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 3 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    db, mode = (tmp_path / "db").read_text().split()
    assert mode == "700" and not str(db).startswith(str(REPO))
    assert not Path(db).exists() and not Path(db).parent.exists()


def test_every_kill_point_is_tested():
    """Each point of lakehouse/faults.py is armed by a test in this module."""
    src = Path(__file__).read_text()
    assert [p for p in KILL_POINTS if f'"{p}"' not in src] == []


# -- hostile inputs: paths that leave the release folder ---------------------------------------------
def test_release_versions_and_manifest_keys_cannot_leave_the_release_folder(tmp_path, capsys, monkeypatch):
    from lakehouse.cli import main
    from lakehouse.export.verify import UnsafeReleasePath, check_key, check_version

    root = tmp_path / "lake"
    rel = root / "exports" / "releases" / "v1"
    rel.mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "manifest.json").write_text(json.dumps({"version": "x", "files": []}))
    secret = tmp_path / "host-secret.txt"
    secret.write_text("not part of any release\n")
    (rel / "data.jsonl").write_text("{}\n")
    (rel / "manifest.json").write_text(json.dumps({"version": "v1", "counts": {"records": 0}, "files": [
        {"key": "data.jsonl", "bytes": 3, "sha256": "0" * 64, "records": 1},
        {"key": "../../../../host-secret.txt", "bytes": 24, "sha256": "0" * 64, "records": 1},
        {"key": "/etc/hostname", "bytes": 1, "sha256": "0" * 64, "records": 0}]}))
    for bad in ("../../../outside", "..", "v1/../../x", "/etc", "", ".hidden", "v1/x"):
        with pytest.raises(UnsafeReleasePath):
            check_version(bad)
    for bad in ("../x", "a/../../x", "/etc/passwd", "", "a//b", "./a", "C:\\x", "a\\..\\b"):
        with pytest.raises(UnsafeReleasePath):
            check_key(bad)
    assert check_key("shards/sft/train/f/part-00000.jsonl") and check_version("v2026-12-01")

    monkeypatch.setenv("LAKEHOUSE_ROOT", str(root))
    for args in (["release", "show", "../../../outside"], ["release", "verify", "../../../outside"]):
        monkeypatch.setattr(sys, "argv", ["lakehouse", *args])
        with pytest.raises(SystemExit) as ex:
            main()
        err = capsys.readouterr().err
        assert ex.value.code == 2 and "invalid release version" in err and len(err.strip().splitlines()) == 1
    monkeypatch.setattr(sys, "argv", ["lakehouse", "release", "verify", "v1"])
    with pytest.raises(SystemExit) as ex:
        main()
    out = capsys.readouterr()
    assert ex.value.code == 1 and "leaves the release folder" in out.err
    assert "host-secret" in out.err and "missing" not in out.err.split("host-secret")[1].split("\n")[0]


# -- S3 down or refusing the credentials: one line, the cause, non-zero; --debug shows the traceback ----
S3_COMMANDS = [["release", "list"], ["release", "verify", "latest"], ["release", "show", "v1"],
               ["sql", "select count(*) from conversations"], ["trace", "x:1:1"],
               ["land", "{file}", "--source", "s", "--family", "mental_health_datasets", "--no-progress"]]


@pytest.mark.s3
@pytest.mark.parametrize("failure", ["down", "bad_credentials"])
def test_s3_failures_are_one_line_errors(failure, s3_root, tmp_path, capsys, monkeypatch):
    from lakehouse.cli import main

    f = tmp_path / "a.jsonl"
    f.write_text(json.dumps({"text": "hello"}) + "\n")
    monkeypatch.setenv("LAKEHOUSE_S3_MAX_ATTEMPTS", "1")
    if failure == "down":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
        cause = "cannot reach S3"
    else:
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
        cause = "refused the credentials"
    for cmd in S3_COMMANDS:
        monkeypatch.setattr(sys, "argv", ["lakehouse", *[a.format(file=f) for a in cmd]])
        with pytest.raises(SystemExit) as ex:
            main()
        err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
        assert ex.value.code not in (0, None), cmd
        assert len(err) == 1 and cause in err[0], (cmd, err)
        assert "Traceback" not in err[0]
    env = {**os.environ, "LAKEHOUSE_S3_MAX_ATTEMPTS": "1"}
    res = subprocess.run([sys.executable, "-m", "lakehouse.cli", "release", "list", "--debug"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and "Traceback" in res.stderr
