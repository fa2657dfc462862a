"""`lakehouse docs`: every landed raw table is a documented dbt source (location, family, license)
and the lineage runs from each of them to the release export and both exposures."""

from __future__ import annotations

import json

import pytest

from lakehouse.docs import SOURCES_FILE, generate_docs
from pipeline_helpers import REPO, dbt_env
from test_query_support import shared_local_lakehouse

pytestmark = pytest.mark.dbt


def test_each_landed_source_is_documented_and_reaches_training(tmp_path_factory, monkeypatch):
    lake = shared_local_lakehouse(tmp_path_factory)
    work = tmp_path_factory.mktemp("docs-sources")
    gen = work / "generated"
    for k, v in dbt_env(work, lake.env).items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("LAKEHOUSE_GENERATED_MODELS", str(gen))
    rc = generate_docs(lake.storage(), REPO, ["--target-path", str(work / "target"), "--log-path", str(work / "logs")])
    assert rc == 0
    assert (gen / SOURCES_FILE).is_file()
    manifest = json.loads((work / "target" / "manifest.json").read_text())
    landed = {k: v for k, v in manifest["sources"].items() if k.startswith("source.lakehouse.landed.")}
    raw = sorted(lake.storage().list_dirs("raw"))
    assert sorted(v["name"] for v in landed.values()) == raw
    for src in landed.values():
        assert src["description"] and src["meta"]["location"].endswith("/raw/" + src["name"])
        assert src["meta"]["family"] and src["meta"]["license"] and src["meta"]["rows"] > 0
    children = manifest["child_map"]

    def reaches(a: str, b: str) -> bool:
        seen, todo = {a}, [a]
        while todo:
            for c in children.get(todo.pop(), []):
                if c == b:
                    return True
                if c not in seen:
                    seen.add(c)
                    todo.append(c)
        return False

    for uid in landed:
        for target in ("model.lakehouse.release_export", "exposure.lakehouse.training_release",
                       "exposure.lakehouse.lakehouse_train"):
            assert reaches(uid, target), (uid, target)
