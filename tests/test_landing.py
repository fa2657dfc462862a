"""Landing: Delta append with provenance, idempotence, atomic per file, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lakehouse.landing import LandingError, land
from lakehouse.storage import Storage

CHATML = [{"messages": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": f"I feel tired {i}"},
                        {"role": "assistant", "content": f"Tell me more about being tired {i}."}]} for i in range(5)]
SHAREGPT = [{"id": "a", "conversations": [{"from": "human", "value": "hello"}, {"from": "gpt", "value": "hi there"}]}]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def raw_rows(storage: Storage, source: str) -> list[dict]:
    from deltalake import DeltaTable

    return DeltaTable(storage.uri("raw", source), storage_options=storage.delta_storage_options()).to_pyarrow_table().to_pylist()


def test_land_chatml_keeps_provenance(local_root, tmp_path):
    f = write_jsonl(tmp_path / "a.jsonl", CHATML)
    rep = land([str(f)], source="demo", family="mental_health_datasets", license_tag="CC0-1.0")
    assert [x.status for x in rep.files] == ["landed"] and rep.rows == 5
    assert rep.files[0].shape == "chatml"
    assert rep.files[0].coverage.converted == {"sft": 5} and rep.files[0].coverage.quarantined == {}
    rows = raw_rows(Storage.from_env(), "demo")
    assert len(rows) == 5
    r = rows[0]
    assert r["source_name"] == "demo" and r["source_family"] == "mental_health_datasets"
    assert r["license_tag"] == "CC0-1.0" and r["source_key"] == "a.jsonl"   # relative, never a host path
    assert len(r["file_sha256"]) == 64 and r["landing_id"] == rep.landing_id and r["landed_at"] is not None
    assert sorted(x["row_number"] for x in rows) == [1, 2, 3, 4, 5]
    assert json.loads(r["record"])["messages"][0]["role"] == "system"


def test_land_sharegpt_json_array(local_root, tmp_path):
    f = tmp_path / "s.json"
    f.write_text(json.dumps(SHAREGPT))
    rep = land([str(f)], source="sg", family="roleplay_simulator", license_tag="Apache-2.0")
    assert rep.files[0].shape == "sharegpt" and rep.rows == 1


def test_relanding_is_idempotent(local_root, tmp_path):
    f = write_jsonl(tmp_path / "a.jsonl", CHATML)
    land([str(f)], source="demo", family="f1", license_tag="MIT")
    copy = write_jsonl(tmp_path / "same-bytes-other-name.jsonl", CHATML)
    rep = land([str(f), str(copy)], source="demo", family="f1", license_tag="MIT")
    assert [x.status for x in rep.files] == ["skipped", "skipped"]
    assert len(raw_rows(Storage.from_env(), "demo")) == 5


def test_malformed_line_is_quarantined_or_refused_in_strict_mode(local_root, tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text(json.dumps(CHATML[0]) + "\n{not json\n" + json.dumps(CHATML[1]) + "\n")
    rep = land([str(f)], source="strict", family="f1", license_tag="MIT", strict=True)
    assert rep.files[0].status == "failed"
    assert f"{f.resolve()}:2:" in rep.files[0].error  # names the file and the line
    assert not Path(local_root, "raw", "strict").exists()
    rep = land([str(f)], source="lenient", family="f1", license_tag="MIT")
    assert rep.files[0].status == "landed" and rep.files[0].parse_errors == 1
    assert rep.files[0].coverage.quarantined == {"invalid_json": 1} and rep.files[0].coverage.converted == {"sft": 2}
    rows = raw_rows(Storage.from_env(), "lenient")
    assert len(rows) == 3 and sum(r["parse_error"] is not None for r in rows) == 1


def test_bad_inputs_give_one_line_errors(local_root, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    rep = land([str(empty)], source="e", family="f1", license_tag="MIT")
    assert rep.files[0].status == "failed" and "empty" in rep.files[0].error and str(empty) in rep.files[0].error
    with pytest.raises(LandingError, match="not found"):
        land([str(tmp_path / "missing.jsonl")], source="e", family="f1")
    with pytest.raises(LandingError, match="unknown --format"):
        land([str(empty)], source="e", family="f1", shape="yaml")
    with pytest.raises(LandingError, match="invalid source name"):
        land([str(empty)], source="Bad Name", family="f1")


def test_truncated_gzip_lands_nothing(local_root, tmp_path):
    import gzip

    data = gzip.compress("".join(json.dumps(r) + "\n" for r in CHATML * 200).encode())
    f = tmp_path / "cut.jsonl.gz"
    f.write_bytes(data[: len(data) // 2])
    rep = land([str(f)], source="gz", family="f1", license_tag="MIT")
    assert rep.files[0].status == "failed" and str(f.resolve()) in rep.files[0].error
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    with pytest.raises(TableNotFoundError):
        DeltaTable(Storage.from_env().uri("raw", "gz"))


@pytest.mark.s3
def test_land_from_and_into_s3(s3_root, tmp_path):
    st = Storage.from_env()
    st.ensure_root()
    f = write_jsonl(tmp_path / "a.jsonl", CHATML)
    st.write_bytes("incoming/a.jsonl", f.read_bytes())
    rep = land([st.uri("incoming/")], source="s3src", family="f1", license_tag="MIT", storage=st)
    assert rep.files[0].status == "landed" and rep.rows == 5
    assert rep.files[0].source_key == "lakehouse/incoming/a.jsonl"   # the S3 key, without the bucket
    rep = land([st.uri("incoming/a.jsonl")], source="s3src", family="f1", license_tag="MIT", storage=st)
    assert rep.files[0].status == "skipped"
    assert len(raw_rows(st, "s3src")) == 5
