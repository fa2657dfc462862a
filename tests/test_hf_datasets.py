"""`datasets.load_dataset(<release dir>, "<config>")` on a built release: every config, every split,
counts equal to the manifest (datasets comes with the train extra)."""

from __future__ import annotations

import json

import pytest

from export_support import shared_release

pytestmark = pytest.mark.dbt
datasets = pytest.importorskip("datasets")


def test_load_dataset_every_config(tmp_path_factory, tmp_path, monkeypatch):
    rel = shared_release(tmp_path_factory)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    manifest = json.loads((rel.path / "manifest.json").read_text())
    by_config = manifest["counts"]["by_config"]
    assert set(by_config) == {"sft", "kto", "preference", "pretrain"}
    for config, counts in by_config.items():
        ds = datasets.load_dataset(str(rel.path), config, cache_dir=str(tmp_path / "cache"))
        want = {{"val": "validation"}.get(s, s): n for s, n in counts.items() if n}
        assert {s: len(d) for s, d in ds.items()} == want, config
        first = next(iter(ds.values()))[0]
        assert first["metadata"]["split"] in ("train", "val", "test")
        if config == "sft":
            assert first["messages"][0]["role"] in ("system", "user") and "chosen" not in first
        if config == "kto":
            assert isinstance(first["label"], bool) and first["messages"]
        if config == "preference":
            assert first["chosen"][0]["role"] == "assistant" and first["prompt"]
        if config == "pretrain":
            assert first["text"] and set(first) == {"text", "metadata"}
    # the default config is sft; streaming reads the same files
    stream = datasets.load_dataset(str(rel.path), "sft", split="train", streaming=True)
    assert sum(1 for _ in stream) == by_config["sft"]["train"]
