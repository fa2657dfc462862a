"""Provenance without host paths or file-name PII: relative source keys, their redaction, file modes."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

from lakehouse.landing import land
from lakehouse.landing.land import relative_source_key
from lakehouse.provenance import redact_source_keys
from lakehouse.storage import Storage

ROW = {"messages": [{"role": "user", "content": "I can't sleep"}, {"role": "assistant", "content": "Tell me more."}]}
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


def fake_redact(texts: list[str]) -> list[str]:
    """A stand-in for the pipeline's redactor: e-mail addresses and one known name."""
    return [EMAIL.sub("<EMAIL_ADDRESS_1>", t).replace("john smith", "<PERSON_1>") for t in texts]


def raw_keys(storage: Storage, source: str) -> set[str]:
    from deltalake import DeltaTable

    t = DeltaTable(storage.uri("raw", source), storage_options=storage.delta_storage_options()).to_pyarrow_table()
    return set(t.column("source_key").to_pylist())


def catalog_keys(storage: Storage) -> set[str]:
    from deltalake import DeltaTable

    t = DeltaTable(storage.uri("catalog", "landings"), storage_options=storage.delta_storage_options()).to_pyarrow_table()
    return set(t.column("source_key").to_pylist())


def test_source_keys_are_relative_to_what_was_landed(local_root, tmp_path):
    folder = tmp_path / "incoming"
    (folder / "clinic").mkdir(parents=True)
    for rel in ("clinic/a.jsonl", "b.jsonl"):
        (folder / rel).write_text(json.dumps({**ROW, "n": rel}) + "\n")
    single = tmp_path / "elsewhere" / "c.jsonl"
    single.parent.mkdir()
    single.write_text(json.dumps({**ROW, "n": "c"}) + "\n")
    globbed = tmp_path / "g" / "sub"
    globbed.mkdir(parents=True)
    (globbed / "d.jsonl").write_text(json.dumps({**ROW, "n": "d"}) + "\n")
    rep = land([str(folder), str(single), str(tmp_path / "g" / "**" / "*.jsonl")], source="keys", family="f1",
               license_tag="MIT")
    assert {f.source_key for f in rep.files} == {"clinic/a.jsonl", "b.jsonl", "c.jsonl", "sub/d.jsonl"}
    st = Storage.from_env()
    assert raw_keys(st, "keys") == catalog_keys(st) == {"clinic/a.jsonl", "b.jsonl", "c.jsonl", "sub/d.jsonl"}
    assert not any(str(tmp_path) in k for k in raw_keys(st, "keys"))


def test_old_absolute_keys_map_to_relative_ones():
    assert relative_source_key("/home/ana/data/jane.doe@example.org.jsonl") == "jane.doe@example.org.jsonl"
    assert relative_source_key("s3://bucket/incoming/sg/part-1.jsonl") == "incoming/sg/part-1.jsonl"
    assert relative_source_key("C:\\Users\\ana\\f.csv") == "f.csv"
    assert relative_source_key("clinic/a.jsonl") == "clinic/a.jsonl"


def test_staging_macro_matches_the_python_rule():
    """macros/raw_union.sql relative_source_key gives the same keys (existing lakehouses, next build)."""
    import duckdb

    macro = (Path(__file__).resolve().parents[1] / "macros" / "raw_union.sql").read_text()
    body = macro.split("{% macro relative_source_key(column) -%}")[1].split("{%- endmacro %}")[0]
    body = re.sub(r"\{#-.*?-#\}", "", body, flags=re.S).replace("{{ column }}", "k")
    keys = ["/home/ana/data/jane.doe@example.org.jsonl", "s3://bucket/incoming/sg/part-1.jsonl", "C:\\Users\\ana\\f.csv",
            "clinic/a.jsonl", "/srv/x/"]
    con = duckdb.connect()
    got = [r[0] for r in con.execute(f"select {body} from unnest(?) t(k)", [keys]).fetchall()]
    assert got == [relative_source_key(k) for k in keys]


def test_file_name_pii_is_redacted_in_provenance():
    keys = ["clinic/jane.doe@example.org.jsonl", "sessions/john_smith-notes.csv.gz", "plain/part-0001.jsonl", None,
            "clinic/jane.doe@example.org.jsonl"]
    calls: list[list[str]] = []

    def counting(texts: list[str]) -> list[str]:
        calls.append(texts)
        return fake_redact(texts)

    out = redact_source_keys(keys, counting)
    assert out == ["clinic/<EMAIL_ADDRESS_1>.jsonl", "sessions/<PERSON_1>_notes.csv.gz", "plain/part-0001.jsonl", None,
                   "clinic/<EMAIL_ADDRESS_1>.jsonl"]
    assert len(calls) == 1 and sorted(calls[0]) == sorted({"clinic", "jane.doe@example.org", "sessions",
                                                           "john smith notes", "plain", "part 0001"})


def test_source_key_stage_redacts_and_scans_each_key_on_its_own():
    """The cached engine stage: released form + the final scan's findings, per key, whatever the batch."""
    import pyarrow as pa

    from lakehouse.engine.stages import SOURCE_KEY_OUTPUT, source_key_batch
    from lakehouse.provenance import key_stems

    keys = ["clinic/jane.doe@example.org.jsonl", "plain/part-0001.jsonl", "notes/call 555-201-3344.csv"]
    out = source_key_batch(pa.RecordBatch.from_pydict({"source_key": keys}))
    assert out.schema == SOURCE_KEY_OUTPUT
    rows = out.to_pylist()
    assert [r["released"] for r in rows] == ["clinic/<EMAIL_1>.jsonl", "plain/part-0001.jsonl",
                                             "notes/call_<PHONE_1>.csv"]
    assert [r["findings"] for r in rows] == [0, 0, 0]
    alone = [source_key_batch(pa.RecordBatch.from_pydict({"source_key": [k]})).to_pylist()[0] for k in keys]
    assert alone == rows
    assert key_stems("clinic/<EMAIL_1>.jsonl.gz") == ["clinic", "<EMAIL_1>"]
    # the scan reads what the redactor read: spaCy calls "part-0001" a PERSON, "part 0001" nothing
    assert key_stems("a_b/<PERSON_1>_notes-v2.csv") == ["a b", "<PERSON_1> notes v2"]
    assert key_stems("plain/part-0001.jsonl") == ["plain", "part 0001"]


def test_raw_and_quarantine_are_owner_only(local_root, tmp_path):
    root = Path(local_root)
    root.mkdir(parents=True)
    (root / "raw").mkdir(mode=0o755)       # a lakehouse made by an older version
    os.chmod(root / "raw", 0o755)
    f = tmp_path / "a.jsonl"
    f.write_text(json.dumps(ROW) + "\n")
    land([str(f)], source="modes", family="f1", license_tag="MIT")
    for prefix in ("raw", "quarantine"):
        assert stat.S_IMODE((root / prefix).stat().st_mode) == 0o700, prefix
