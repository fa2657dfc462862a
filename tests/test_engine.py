"""The per-record engine outside dbt: ordered maps on every engine, content-addressed caches
(incremental, fingerprint-isolated, kill-safe) and cache gc."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from lakehouse import duck
from lakehouse.engine import map_batches
from lakehouse.engine.cache import ResultCache, cached_map, fingerprint
from lakehouse.engine.settings import EngineConfigError, EngineSettings, engine_settings
from lakehouse.storage import Storage

FN = "lakehouse.engine.stages:convert_units_batch"


def _units(n: int) -> pa.Table:
    recs = [json.dumps({"messages": [{"role": "user", "content": f"hello number {i}, how are you?"},
                                     {"role": "assistant", "content": f"I hear you ({i}). Tell me more."}]})
            for i in range(n)]
    return pa.table({
        "key": [f"k{i:05d}" for i in range(n)],
        "unit_record": recs,
        "unit_records": pa.nulls(n, pa.list_(pa.string())),
        "shape": ["chatml"] * n,
        "shape_options": ["{}"] * n,
        "unit_error": pa.nulls(n, pa.string()),
    })


def _run(tbl: pa.Table, settings: EngineSettings) -> list:
    out = list(map_batches(FN, tbl.to_batches(max_chunksize=7), settings=settings, batch_rows=5))
    return pa.Table.from_batches(out).column("converted").to_pylist()


def test_settings_parse_and_errors() -> None:
    s = engine_settings({"LAKEHOUSE_ENGINE": "ray", "LAKEHOUSE_WORKERS": "3"})
    assert (s.engine, s.workers) == ("ray", 3)
    assert engine_settings({"LAKEHOUSE_PII_WORKERS": "2"}).workers == 2  # the old name is an alias
    assert engine_settings({}).workers is None  # auto
    with pytest.raises(EngineConfigError, match="LAKEHOUSE_ENGINE"):
        engine_settings({"LAKEHOUSE_ENGINE": "spark"})
    with pytest.raises(EngineConfigError, match="LAKEHOUSE_WORKERS"):
        engine_settings({"LAKEHOUSE_WORKERS": "many"})


def test_every_engine_gives_the_same_rows_in_order() -> None:
    tbl = _units(40)
    serial = _run(tbl, EngineSettings(workers=0))
    assert [r[0]["messages"][0]["content"] for r in serial] == [f"hello number {i}, how are you?" for i in range(40)]
    assert _run(tbl, EngineSettings(workers=2)) == serial
    assert _run(tbl, EngineSettings(engine="ray", workers=2)) == serial


def test_progress_reports_rate_and_eta(capsys) -> None:  # type: ignore[no-untyped-def]
    tbl = _units(12)
    list(map_batches(FN, tbl.to_batches(), settings=EngineSettings(workers=0, progress_seconds=0), batch_rows=4,
                     stage="convert", total=12))
    err = capsys.readouterr().err
    assert "[lakehouse] convert: 4/12 records (33%)" in err and "ETA" in err
    assert "convert: 12 records in" in err
    assert "hello" not in err  # counts only, never text


def _cached(con, storage: Storage, tbl: pa.Table, fp: str) -> pa.Table:  # type: ignore[no-untyped-def]
    con.register("inputs_arrow", tbl)
    con.execute("create or replace table inputs as select * from inputs_arrow")
    con.unregister("inputs_arrow")
    sql = cached_map(con, storage=storage, stage="convert_test", fp=fp, inputs_sql="select * from inputs",
                     fn_path=FN, result_columns=["converted"], settings=EngineSettings(workers=0), batch_rows=8)
    return con.execute(sql + " order by key").to_arrow_table()


def test_cache_computes_only_missing_keys_and_never_crosses_fingerprints(local_root, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    storage = Storage.from_env()
    con = duck.connect(storage.settings)
    calls: list[int] = []
    import lakehouse.engine.stages as stages

    real = stages.convert_units_batch

    def counting(batch: pa.RecordBatch) -> pa.RecordBatch:
        calls.append(batch.num_rows)
        return real(batch)

    monkeypatch.setattr(stages, "convert_units_batch", counting)
    from lakehouse.engine import runner

    runner.resolve.cache_clear()
    fp_a, fp_b = fingerprint("stage", "v1", "config-a"), fingerprint("stage", "v1", "config-b")
    first = _cached(con, storage, _units(20), fp_a)
    assert sum(calls) == 20 and first.num_rows == 20
    calls.clear()
    again = _cached(con, storage, _units(25), fp_a)  # 5 new keys
    assert sum(calls) == 5
    assert again.slice(0, 20).equals(first)
    calls.clear()
    _cached(con, storage, _units(25), fp_b)  # another config: nothing of fp_a is read
    assert sum(calls) == 25
    cache = ResultCache(storage, "convert_test", fp_a)
    rows = con.execute(f"select fingerprint, count(*) from delta_scan('{cache.uri}') group by 1 order by 1").fetchall()
    assert sorted(n for _, n in rows) == [25, 25]
    runner.resolve.cache_clear()


def test_a_build_killed_mid_stage_leaves_usable_entries(local_root, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    storage = Storage.from_env()
    con = duck.connect(storage.settings)
    import lakehouse.engine.stages as stages
    from lakehouse.engine import runner

    real = stages.convert_units_batch
    seen = {"n": 0}

    def dies_late(batch: pa.RecordBatch) -> pa.RecordBatch:
        seen["n"] += batch.num_rows
        if seen["n"] > 24:
            raise KeyboardInterrupt("killed")
        return real(batch)

    monkeypatch.setattr(stages, "convert_units_batch", dies_late)
    monkeypatch.setattr("lakehouse.engine.cache.COMMIT_ROWS", 8)  # commit every 8 rows
    runner.resolve.cache_clear()
    fp = fingerprint("kill-test")
    with pytest.raises(KeyboardInterrupt):
        _cached(con, storage, _units(40), fp)
    committed = con.execute(f"select count(*) from delta_scan('{ResultCache(storage, 'convert_test', fp).uri}')").fetchone()[0]
    assert 0 < committed < 40
    monkeypatch.setattr(stages, "convert_units_batch", real)
    runner.resolve.cache_clear()
    resumed = _cached(con, storage, _units(40), fp)
    expected = pa.Table.from_batches([real(b) for b in _units(40).to_batches()])
    assert resumed.column("converted").to_pylist() == expected.column("converted").to_pylist()
    runner.resolve.cache_clear()


def test_gc_removes_old_configs_and_unreachable_keys(local_root, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from lakehouse.engine import gc as gcmod

    storage = Storage.from_env()
    con = duck.connect(storage.settings)
    fp_old, fp_new = fingerprint("old"), fingerprint("new")
    _cached(con, storage, _units(10), fp_old)
    _cached(con, storage, _units(12), fp_new)
    _cached(con, storage, _units(6), fp_new)  # the last build reached 6 keys only
    monkeypatch.setattr(gcmod, "current_fingerprints", lambda: {"convert_test": lambda: fp_new})
    dry = gcmod.gc(storage, dry_run=True)
    assert [(r.stage, r.rows_before, r.rows_after) for r in dry] == [("convert_test", 22, 6)]
    res = gcmod.gc(storage)
    assert res[0].rows_after == 6 and res[0].bytes_after < res[0].bytes_before
    left = con.execute(f"select fingerprint, count(*) from delta_scan('{ResultCache(storage, 'convert_test', fp_new).uri}') group by 1").fetchall()
    assert left == [(fp_new, 6)]


def test_killed_build_leaves_no_ray_or_worker_processes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL of the process that started a local Ray (and a local pool): the watchdog ends them."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from lakehouse.engine.watchdog import _psutil

    script = tmp_path / "driver.py"
    script.write_text(
        "import json, os, sys, time\n"
        "import pyarrow as pa\n"
        "from lakehouse.engine import map_batches\n"
        "from lakehouse.engine.settings import EngineSettings\n"
        "t = pa.table({'unit_record': [json.dumps({'text': 'x'})] * 4, 'unit_records': pa.nulls(4, pa.list_(pa.string())),"
        " 'shape': ['plain_text'] * 4, 'shape_options': ['{}'] * 4, 'unit_error': pa.nulls(4, pa.string())})\n"
        "if __name__ == '__main__':\n"
        "    for s in (EngineSettings(engine='ray', workers=1), EngineSettings(workers=2)):\n"
        "        list(map_batches('lakehouse.engine.stages:convert_units_batch', t.to_batches(), settings=s, batch_rows=2))\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        psutil = _psutil()
        kids = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)
                if not p.cmdline()[-2:-1] == ["lakehouse.engine.watchdog"]]
        assert any("raylet" in (psutil.Process(k).name() or "") for k in kids)
        pgid = os.getpgid(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.time() + 30
        left: list[int] = []
        while time.time() < deadline:
            left = [k for k in kids if psutil.pid_exists(k) and psutil.Process(k).status() != psutil.STATUS_ZOMBIE]
            left += [p.pid for p in psutil.process_iter(["name"]) if (p.info["name"] or "").startswith("ray::")
                     and _pgid(p.pid) == pgid]
            if not left:
                break
            time.sleep(1)
        assert left == []
    finally:
        if proc.poll() is None:
            proc.kill()


def _pgid(pid: int) -> int | None:
    import os

    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def test_near_dedup_from_engine_signatures_equals_from_text() -> None:
    from lakehouse.dedup import conversation_text, near_duplicate_clusters
    from lakehouse.engine.stages import minhash_batch
    from lakehouse.synth import generate_corpus

    recs = list(generate_corpus(300, seed=3))
    ids = pa.array([r["synthetic_id"] for r in recs])
    texts = pa.array([conversation_text(r["messages"]) for r in recs])
    ranks = pa.array([f"{i:06d}" for i in range(len(recs))])
    from_text = near_duplicate_clusters([pa.record_batch([ids, texts, ranks], names=["record_id", "text", "rank_key"])])
    sigs = pa.Table.from_batches(list(map_batches("lakehouse.engine.stages:minhash_batch",
                                                  pa.table({"text": texts}).to_batches(), batch_rows=64,
                                                  settings=EngineSettings(workers=2))))
    assert sigs.num_rows == len(recs) and minhash_batch  # ordered, one row per text
    batch = pa.table({"record_id": ids, "rank_key": ranks, "signature": sigs.column("signature"),
                      "nonempty": sigs.column("nonempty")})
    from_sigs = near_duplicate_clusters(batch.to_batches(max_chunksize=77))
    assert from_sigs.equals(from_text)
    assert from_text.column("is_survivor").to_pylist().count(False) > 10  # planted duplicates found


def test_pii_from_cached_spans_equals_direct_redaction() -> None:
    """Stage 1 (spans per message) + stage 2 (placeholders from seeded spans, residual pass) give
    exactly what the redactor gives in one call, and report the residual texts they analysed."""
    from lakehouse.engine.stages import pii_analyze_batch, pii_redact_batch
    from lakehouse.hashing import content_hash
    from lakehouse.privacy import get_redactor
    from lakehouse.privacy.redactor import text_key
    from lakehouse.record import MESSAGES_TYPE

    convs = [
        [{"role": "user", "content": "Hi, I'm Maria Delgado and I live at 42 Elm Street, Springfield."},
         {"role": "assistant", "content": "Thank you for sharing, Maria. What brings you here today?"},
         {"role": "user", "content": "Maria again: call me on 555-201-3344 or mdelgado@example.com."}],
        [{"role": "user", "content": "I have been thinking about ending my life since Tuesday."},
         {"role": "assistant", "content": "I'm really glad you told me. Are you safe right now? You can call or text 988."}],
    ]
    texts = sorted({m["content"] for c in convs for m in c})
    spans = pii_analyze_batch(pa.record_batch([pa.array(texts)], names=["text"])).column("findings").to_pylist()
    by_key = {text_key(t).hex(): s for t, s in zip(texts, spans)}
    batch = pa.RecordBatch.from_pydict({
        "kind": ["sft", "sft"], "messages": pa.array(convs, MESSAGES_TYPE),
        "prompt": pa.nulls(2, MESSAGES_TYPE), "chosen": pa.nulls(2, MESSAGES_TYPE), "rejected": pa.nulls(2, MESSAGES_TYPE),
        "text": pa.nulls(2, pa.string()), "label": pa.nulls(2, pa.bool_()),
        "spans": [[{"key": text_key(m["content"]).hex(), "findings": by_key[text_key(m["content"]).hex()]} for m in c]
                  for c in convs],
        "residual_known": [False, False],
    })
    out = pii_redact_batch(batch).to_pylist()
    red = get_redactor()
    red.clear_cache()
    direct = red.redact_conversations(convs)
    for o, d in zip(out, direct):
        assert o["messages"] == d.messages and o["pii_status"] == d.pii_status
        assert o["content_hash"] == content_hash("sft", messages=d.messages)
    assert "Maria" not in json.dumps(out[0]["messages"]) and "555-201-3344" not in json.dumps(out[0]["messages"])
    assert out[1]["messages"] == convs[1]  # crisis language unchanged
    # every residual text the record needed is named, with its spans
    assert all(s["key"] in out[0]["residual_keys"] for s in out[0]["new_spans"])
