"""dbt docs as the lineage browser: generated on a built lakehouse, served, loaded in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from pipeline_helpers import BIN, REPO, dbt_env
from test_docs_browser_support import CHROMIUM, LINEAGE_JS, Chromium, edges_to_children, reaches, serve_folder
from test_query_support import BuiltLakehouse, shared_local_lakehouse

pytestmark = pytest.mark.dbt

SOURCE = "source.lakehouse.lakehouse.raw_records"
EXPORT = "model.lakehouse.release_export"
EXPOSURE = "exposure.lakehouse.training_release"
DOCUMENTED_TYPES = ("model", "seed", "source", "exposure", "snapshot", "analysis")
_UNDOCUMENTED = re.compile(r"(undocumented|no description|not documented|missing description|"
                           r"did not find matching node|doc\(\) .*not found)", re.IGNORECASE)


@pytest.fixture(scope="module")
def docs_target(tmp_path_factory) -> tuple[Path, str]:  # type: ignore[no-untyped-def]
    """`dbt docs generate` on the built fixture lakehouse: (target folder, dbt output)."""
    lake: BuiltLakehouse = shared_local_lakehouse(tmp_path_factory)
    work = lake.work / "dbt"
    target = work / "target"
    cmd = [str(BIN / "dbt"), "docs", "generate", "--project-dir", str(REPO), "--profiles-dir", str(REPO),
           "--target-path", str(target), "--log-path", str(work / "logs"), "--no-use-colors"]
    p = subprocess.run(cmd, cwd=str(REPO), env=dbt_env(work, lake.env), capture_output=True, text=True, timeout=600)
    output = p.stdout + p.stderr
    assert p.returncode == 0, output[-5000:]
    for name in ("index.html", "manifest.json", "catalog.json"):
        assert (target / name).is_file(), name
    return target, output


def test_docs_generate_documents_every_node(docs_target):
    target, output = docs_target
    warnings = [line for line in output.splitlines() if "warn" in line.lower()]
    assert not [w for w in warnings if _UNDOCUMENTED.search(w)], warnings
    manifest = json.loads((target / "manifest.json").read_text())
    nodes = {**manifest["nodes"], **manifest["sources"], **manifest["exposures"]}
    undocumented = sorted(uid for uid, n in nodes.items()
                          if n["resource_type"] in DOCUMENTED_TYPES and not (n.get("description") or "").strip())
    assert undocumented == [], f"nodes without a description: {undocumented}"
    catalog = json.loads((target / "catalog.json").read_text())
    assert any(uid.startswith("model.lakehouse.") for uid in catalog["nodes"])   # built tables were found


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed (apt-get install chromium)")
def test_lineage_graph_in_the_browser(docs_target):
    target, _ = docs_target
    with serve_folder(target) as url, Chromium() as browser:
        session = browser.open(f"{url}/index.html")
        loaded = browser.evaluate(session, LINEAGE_JS)
    assert loaded["title"] == "dbt Docs"
    assert loaded["catalog_nodes"] > 0
    # the manifest the page loaded: raw source -> ... -> release_export -> exposure
    child_map = loaded["child_map"]
    to_export = reaches(child_map, SOURCE, EXPORT)
    assert to_export, f"{SOURCE} does not reach {EXPORT} in the child map"
    assert reaches(child_map, EXPORT, EXPOSURE) == [EXPORT, EXPOSURE]
    assert reaches(child_map, "model.lakehouse.release_conversations", EXPORT)
    assert EXPORT in loaded["parent_map"][EXPOSURE]
    # the lineage graph the page draws holds the same path
    assert {SOURCE, EXPORT, EXPOSURE} <= set(loaded["graph_nodes"])
    path = reaches(edges_to_children(loaded["graph_edges"]), SOURCE, EXPOSURE)
    assert path and path[0] == SOURCE and path[-2:] == [EXPORT, EXPOSURE], path
