"""The release layout per config: JSONL shards + Parquet beside them, compiled files per config and
split without foreign payload fields, the dataset card, and the trainer exports (one dbt build)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from export_support import BuiltRelease, shared_release

pytestmark = pytest.mark.dbt

PAYLOAD = {"sft": {"messages"}, "kto": {"messages", "label"}, "preference": {"prompt", "chosen", "rejected"},
           "pretrain": {"text"}}


@pytest.fixture(scope="module")
def rel(tmp_path_factory) -> BuiltRelease:  # type: ignore[no-untyped-def]
    return shared_release(tmp_path_factory)


def _manifest(rel: BuiltRelease) -> dict:
    return json.loads((rel.path / "manifest.json").read_text())


def _lines(p: Path) -> list[dict]:
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines()]


def test_every_config_is_present_and_counted_apart(rel):
    m = _manifest(rel)
    by_config = m["counts"]["by_config"]
    assert set(by_config) == {"sft", "kto", "preference", "pretrain"}
    assert sum(sum(v.values()) for v in by_config.values()) == m["counts"]["records"]
    keys = [f["key"] for f in m["files"]]
    shards = [k for k in keys if k.startswith("shards/")]
    for k in shards:
        _, config, split, family, name = k.split("/")
        assert config in PAYLOAD and split in ("train", "val", "test") and name.startswith("part-")
    for config, splits in by_config.items():
        for split, n in splits.items():
            got = sum(f["records"] for f in m["files"] if f["key"].startswith(f"shards/{config}/{split}/"))
            assert got == n, (config, split)
    from lakehouse.export import verify_release

    assert verify_release(rel.storage(), rel.version).ok
    cur = json.loads((rel.path / "curriculum.json").read_text())
    kto = [k for ph in cur["phases"] for st in ph["stages"] for f in st["families"]
           for ks in (f.get("kto_files") or {}).values() for k in ks]
    assert kto and all(k.startswith("shards/kto/") for k in kto)


def test_compiled_files_per_config_and_split_hold_only_their_payload(rel):
    m = _manifest(rel)
    compiled = sorted(f["key"] for f in m["files"] if f["key"].startswith("compiled/"))
    assert compiled and not (rel.path / "compiled" / "final_training_dataset.jsonl").exists()
    total = 0
    for key in compiled:
        _, config, name = key.split("/")
        split = name[: -len(".jsonl")]
        rows = _lines(rel.path / key)
        assert len(rows) == m["counts"]["by_config"][config][split]
        total += len(rows)
        for r in rows:
            assert set(r) == PAYLOAD[config] | {"metadata"}, (key, sorted(r))   # no "chosen": null in SFT rows
            assert all(r[k] is not None for k in PAYLOAD[config])
            assert r["metadata"]["split"] == split
        shard_lines = b"".join((rel.path / f["key"]).read_bytes() for f in sorted(m["files"], key=lambda f: f["key"])
                               if f["key"].startswith(f"shards/{config}/{split}/"))
        assert (rel.path / key).read_bytes() == shard_lines   # same lines, same order as the shards
    assert total == m["counts"]["records"]


def _strip_none(v):  # type: ignore[no-untyped-def]
    if isinstance(v, dict):
        return {k: _strip_none(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_strip_none(x) for x in v]
    return v


def test_parquet_equals_jsonl(rel):
    import polars as pl

    m = _manifest(rel)
    entries = {f["key"]: f for f in m["files"]}
    shards = [k for k in entries if k.startswith("shards/")]
    assert shards
    schemas = {}
    for key in shards:
        pkey = "parquet/" + key[len("shards/"):-len(".jsonl")] + ".parquet"
        assert pkey in entries, pkey               # listed (and hashed) in the manifest
        df = pl.read_parquet(rel.path / pkey)
        assert entries[pkey]["records"] == df.height == entries[key]["records"]
        assert [_strip_none(r) for r in df.to_dicts()] == [_strip_none(r) for r in _lines(rel.path / key)]
        schemas.setdefault(key.split("/")[1], set()).add(str(df.schema))
    assert all(len(s) == 1 for s in schemas.values()), schemas   # one schema per config


def test_dataset_card(rel):
    text = (rel.path / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    meta = yaml.safe_load(text.split("---\n")[1])
    m = _manifest(rel)
    by_config = m["counts"]["by_config"]
    assert [c["config_name"] for c in meta["configs"]] == ["sft", "kto", "preference", "pretrain"]
    assert [c["config_name"] for c in meta["configs"] if c.get("default")] == ["sft"]
    for c, info in zip(meta["configs"], meta["dataset_info"]):
        assert info["config_name"] == c["config_name"]
        want = {{"val": "validation"}.get(s, s): n for s, n in by_config[c["config_name"]].items() if n}
        assert {s["split"] for s in c["data_files"]} == set(want)
        assert {s["name"]: s["num_examples"] for s in info["splits"]} == want
        for s in c["data_files"]:
            assert all((rel.path / p).is_file() and p.endswith(".parquet") for p in s["path"])
        names = [f["name"] for f in info["features"]]
        assert set(PAYLOAD[c["config_name"]]) | {"metadata"} == set(names)
    assert set(meta["license"]) >= {"mit", "apache-2.0", "cc0-1.0"}
    for word in ("## Families", "## Licenses", "## Provenance", "## Gates passed", "public-domain",
                 "mental_health_datasets", "video_transcripts", "config_hash", "`pii`"):
        assert word in text, word
    assert "approved" not in text.lower() and "signed off" not in text.lower()
    # a rebuild gives the same card: it names no version and no time
    assert rel.version not in text


def test_export_llamafactory(rel, tmp_path):
    from typer.testing import CliRunner

    from lakehouse.cli import app

    out = tmp_path / "lf"
    res = CliRunner().invoke(app, ["export", "llamafactory", "latest", "--output", str(out), "--root", rel.root,
                                   "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["version"] == rel.version and summary["converted_pairs"] > 0
    info = json.loads((out / "dataset_info.json").read_text())
    cur = json.loads((rel.path / "curriculum.json").read_text())
    fams = {(f["family"], ph["kind"]) for ph in cur["phases"] for st in ph["stages"] for f in st["families"]}
    for family, kind in fams:
        assert f"lakehouse_{kind}_{family}" in info
    assert "lakehouse_kto_preference_pairs" in info
    for name, e in info.items():
        path = Path(e["file_name"])
        if name.startswith("lakehouse_preference_"):
            assert e["ranking"] is True and e["formatting"] == "sharegpt"
            assert e["columns"] == {"messages": "messages", "chosen": "chosen", "rejected": "rejected"}
            rows = _lines(path)
            assert rows and all(isinstance(r["chosen"], dict) and isinstance(r["rejected"], dict)
                                and r["messages"][-1]["role"] == "user" for r in rows)
        else:
            # a folder inside the release holding JSON Lines only (LLaMA-Factory wants one file type)
            assert path.is_dir() and str(path).startswith(str(rel.path / "shards"))
            assert {p.suffix for p in path.iterdir()} == {".jsonl"}
            cols = {"pretrain": {"prompt": "text"}, "sft": {"messages": "messages"},
                    "kto": {"messages": "messages", "kto_tag": "label"}}[name.split("_")[1]]
            assert e["columns"] == cols
            if "messages" in cols:
                assert e["formatting"] == "sharegpt" and e["tags"]["role_tag"] == "role"
    # one stage file per curriculum step, in curriculum order, probabilities summing to 1
    plan = json.loads((out / "plan.json").read_text())
    order = [(s["phase"], s["stage"]) for s in plan["stages"]]
    assert order == sorted(order, key=lambda x: ("ABC".index(x[0]), x[1] or 0))
    assert [s["trainer_stage"] for s in plan["stages"]][0] == "pt" and "dpo" in [s["trainer_stage"] for s in plan["stages"]]
    for s in plan["stages"]:
        assert abs(sum(s["probabilities"]) - 1) < 1e-9
        doc = yaml.safe_load((out / s["file"]).read_text())
        assert doc["dataset"].split(",") == s["datasets"] and doc["dataset_dir"] == str(out)
        assert all(d in info for d in doc["dataset"].split(","))


def test_export_axolotl_and_errors(rel, tmp_path):
    from typer.testing import CliRunner

    from lakehouse.cli import app

    out = tmp_path / "ax"
    res = CliRunner().invoke(app, ["export", "axolotl", rel.version, "--output", str(out), "--root", rel.root])
    assert res.exit_code == 0, res.output
    stages = sorted((out / "stages").glob("*.yaml"))
    docs = [yaml.safe_load(p.read_text()) for p in stages]
    dpo = [d for d in docs if d.get("rl") == "dpo"]
    assert dpo and dpo[0]["datasets"][0]["type"] == "chat_template.default"
    sft = [d for d in docs if d.get("chat_template")]
    assert sft and all(Path(x["path"]).is_file() and x["field_messages"] == "messages" for d in sft for x in d["datasets"])
    assert "mixing probabilities" in stages[0].read_text()
    res = CliRunner().invoke(app, ["export", "llamafactory", "v-nope", "--output", str(out), "--root", rel.root])
    assert res.exit_code == 2 and res.output.startswith("error: ") and "Traceback" not in res.output


def test_republishing_gives_identical_bytes(rel, tmp_path):
    """Parquet, card and report are byte-identical when the same marts are published again (under
    another version, into another root): only manifest.json and curriculum.json name the version."""
    import duckdb

    from lakehouse.config import Settings
    from lakehouse.export.publish import ReleaseInputs, publish_release
    from lakehouse.storage import Storage
    from pipeline_helpers import release_files

    con = duckdb.connect(str(rel.work / "dbt" / "lakehouse.duckdb"), read_only=True)
    t = con.table
    root = str(tmp_path / "again")
    gates = ["coverage", "leakage", "distribution", "quality", "pii", "provenance", "hash", "split", "stats"]
    res = publish_release(Storage(Settings(root=root)), ReleaseInputs(
        release=t("release_conversations"), conversations=t("conversations"), quarantine=t("quarantine"),
        coverage=t("coverage"), stages=t("curriculum_stages"), stats=t("release_stats"),
        near_removals=t("near_duplicate_removals"), registry=t("dataset_registry"), gates=gates),
        version="v-again")
    con.close()
    assert res.status == "published"
    a, b = release_files(rel.root, rel.version), release_files(root, "v-again")
    for files in (a, b):
        files.pop("manifest.json"), files.pop("curriculum.json")
    assert sorted(a) == sorted(b)
    assert [k for k in a if a[k] != b[k]] == []
