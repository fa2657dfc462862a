"""End to end: land -> `dbt build --select release` -> published, verified release."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lakehouse.export import list_releases, load_manifest, verify_release
from lakehouse.hashing import record_content_hash
from lakehouse.landing import land
from lakehouse.storage import Storage
from pipeline_helpers import REPO, release_files, run_dbt

pytestmark = pytest.mark.dbt
SAMPLES = REPO / "samples"
# these tests land two sources only: the Release-0 families they lack are waived
WAIVE = {"coverage_waivers": ["cot_reasoning", "edge_case_generator", "voice_persona"]}


def land_samples(license_chatml: str | None = "CC0-1.0") -> None:
    land([str(SAMPLES / "chatml")], source="synthetic_sessions", family="mental_health_datasets", license_tag=license_chatml)
    land([str(SAMPLES / "sharegpt")], source="fastchat_dummy", family="roleplay_simulator", license_tag="Apache-2.0")


def test_release_end_to_end_local(local_root, tmp_path):
    land_samples()
    res = run_dbt(tmp_path / "b1", vars={"release_version": "v-test", **WAIVE})
    assert res.ok, res.output[-4000:]
    st = Storage.from_env()
    assert list_releases(st) == ["v-test"]
    v = verify_release(st, "v-test")
    assert v.ok, v.problems
    m = load_manifest(st, "v-test")
    assert m["version"] == "v-test" and m["seed"] == 42 and m["git_commit"]
    assert set(m["counts"]["by_family"]) == {"mental_health_datasets", "roleplay_simulator"}
    assert sum(m["counts"]["by_split"].values()) == m["counts"]["records"] > 0
    keys = {f["key"] for f in m["files"]}
    assert "compiled/sft/train.jsonl" in keys and "curriculum.json" in keys and "README.md" in keys
    assert "reports/index.html" in keys
    assert any(k.startswith("shards/sft/train/mental_health_datasets/") for k in keys)
    # records: ChatML + metadata, hash recomputes, no duplicate content
    base = Path(local_root) / "exports/releases/v-test"
    lines = [line for p in sorted(base.glob("compiled/*/*.jsonl")) for line in p.read_text().splitlines()]
    assert len(lines) == m["counts"]["records"]
    hashes = set()
    for line in lines:
        rec = json.loads(line)
        md = rec["metadata"]
        assert {"source_family", "source_key", "content_hash", "split", "license_tag", "file_sha256", "landing_id"} <= set(md)
        assert all(msg["role"] in ("system", "user", "assistant") for msg in rec["messages"])
        assert record_content_hash(rec) == md["content_hash"]
        hashes.add(md["content_hash"])
    assert len(hashes) == len(lines)
    # the 2 planted exact duplicates of the synthetic sample were removed, and kept duplicate_of
    import deltalake

    conv = deltalake.DeltaTable(st.uri("curated/conversations")).to_pyarrow_table(columns=["record_id", "is_released", "duplicate_of"]).to_pylist()
    dups = [c for c in conv if not c["is_released"]]
    assert len(dups) >= 2 and all(c["duplicate_of"] for c in dups)
    # 42 sessions, 2 exact duplicates: 40, less those under the family's quality thresholds
    quar = deltalake.DeltaTable(st.uri("quarantine/records")).to_pyarrow_table(
        columns=["source_name", "reason_code"]).to_pylist()
    low = sum(1 for q in quar if q["source_name"] == "synthetic_sessions" and q["reason_code"].startswith("quality:"))
    assert m["counts"]["by_family"]["mental_health_datasets"] == 40 - low and low < 20


def test_two_builds_give_identical_bytes(local_root, tmp_path):
    """Uncached in-process, cached on Ray, and uncached on local processes: the same bytes."""
    import shutil

    land_samples()
    own = {"LAKEHOUSE_CACHE_ROOT": ""}  # this lakehouse's own caches, cold at first
    r = run_dbt(tmp_path / "b1", vars={"release_version": "v-a", **WAIVE}, env={"LAKEHOUSE_WORKERS": "0", **own})
    assert r.ok, r.output[-3000:]
    assert (Path(local_root) / "cache/pii_spans").is_dir() and (Path(local_root) / "cache/quality_scores").is_dir()
    r = run_dbt(tmp_path / "b2", vars={"release_version": "v-b", **WAIVE},
                env={"LAKEHOUSE_ENGINE": "ray", "LAKEHOUSE_WORKERS": "2", **own})
    assert r.ok, r.output[-3000:]
    computed = " ".join(line for line in r.output.splitlines() if "records in" in line)
    assert "pii_spans" not in computed and "source_keys" not in computed  # all cached: no NER model loaded
    a, b = release_files(local_root, "v-a"), release_files(local_root, "v-b")
    a.pop("manifest.json"), b.pop("manifest.json")
    a_cur, b_cur = json.loads(a.pop("curriculum.json")), json.loads(b.pop("curriculum.json"))
    assert a_cur["phases"] == b_cur["phases"]
    assert a == b  # every data file and report byte-identical
    # rebuilding the same version is a no-op, not an error: here with cold caches on local
    # processes, so a byte of difference would be refused as "different content"
    shutil.rmtree(Path(local_root) / "cache")
    r = run_dbt(tmp_path / "b3", vars={"release_version": "v-a", **WAIVE}, env={"LAKEHOUSE_WORKERS": "2", **own})
    assert r.ok, r.output[-3000:]
    # releases are immutable: new data under an existing version is refused, and nothing is written
    import deltalake

    st = Storage.from_env()
    before = deltalake.DeltaTable(st.uri("curated/conversations")).version()
    extra = tmp_path / "more.jsonl"
    extra.write_text(json.dumps({"messages": [{"role": "user", "content": "A brand new worry about moving house."},
                                              {"role": "assistant", "content": "Moving is a big change. What worries you most?"}]}) + "\n")
    land([str(extra)], source="more", family="mental_health_datasets", license_tag="MIT")
    r = run_dbt(tmp_path / "b4", vars={"release_version": "v-a", **WAIVE})
    assert not r.ok and "already exists with different content" in r.output
    assert deltalake.DeltaTable(st.uri("curated/conversations")).version() == before
    assert release_files(local_root, "v-a") == {**a, "manifest.json": release_files(local_root, "v-a")["manifest.json"],
                                                "curriculum.json": release_files(local_root, "v-a")["curriculum.json"]}


def test_failing_gate_publishes_nothing(local_root, tmp_path):
    # no license: deny by default quarantines the source, so the required family is missing
    land_samples(license_chatml=None)
    res = run_dbt(tmp_path / "b1", vars={"release_version": "v-bad", **WAIVE})
    assert not res.ok
    assert "Failure in test gate_coverage_release_conversations" in res.output
    assert "Got 1 result" in res.output  # the gate and the count of violations
    assert list_releases(Storage.from_env()) == []
    assert not (Path(local_root) / "exports/releases/v-bad").exists()


@pytest.mark.s3
def test_release_on_s3(s3_root, tmp_path):
    st = Storage.from_env()
    st.ensure_root()
    # inputs come from S3 too
    for p in sorted((SAMPLES / "chatml").iterdir()):
        st.write_bytes(f"incoming/chatml/{p.name}", p.read_bytes())
    land([st.uri("incoming/chatml/")], source="synthetic_sessions", family="mental_health_datasets", license_tag="CC0-1.0")
    land([str(SAMPLES / "sharegpt")], source="fastchat_dummy", family="roleplay_simulator", license_tag="Apache-2.0")
    res = run_dbt(tmp_path / "b1", vars={"release_version": "v-s3", **WAIVE})
    assert res.ok, res.output[-4000:]
    # read the release back with boto3 and check every manifest hash
    import hashlib

    from lakehouse.storage import split_s3_uri

    bucket, prefix = split_s3_uri(st.uri("exports/releases/v-s3"))
    manifest = json.loads(st.s3.get_object(Bucket=bucket, Key=f"{prefix}/manifest.json")["Body"].read())
    assert manifest["files"]
    for f in manifest["files"]:
        body = st.s3.get_object(Bucket=bucket, Key=f"{prefix}/{f['key']}")["Body"].read()
        assert hashlib.sha256(body).hexdigest() == f["sha256"] and len(body) == f["bytes"]
    assert verify_release(st, "v-s3").ok
    objs = st.s3.list_objects_v2(Bucket=bucket, Prefix=split_s3_uri(st.uri("curated/conversations"))[1])
    assert objs.get("KeyCount", 0) > 0
