"""Generated edge-case chats enter through the same door as everything else: landed with provenance,
redacted, built into a release; preference pairs drawn from that release read train records only."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pytest

from lakehouse.generate.edge_cases import generate_edge_cases, load_catalogue, select_categories
from lakehouse.generate.filters import judge_pass_all, pass_all
from lakehouse.generate.model import Sampling, open_model
from lakehouse.generate.preference import generate_preference_pairs, records_from_release
from lakehouse.landing import land
from pipeline_helpers import REPO, run_dbt
from test_generate_support import PLANTED_EMAIL, PLANTED_PHONE, StubServer

pytestmark = pytest.mark.dbt


def _required_families() -> list[str]:
    with open(REPO / "seeds" / "release" / "dataset_registry.csv", newline="") as f:
        return [r["family"] for r in csv.DictReader(f) if (r.get("required") or "").strip().lower() == "true"]


def test_generated_chats_land_build_redacted_and_feed_preference_pairs_from_train_only(local_root, tmp_path):
    cat = load_catalogue()
    out = tmp_path / "edge.jsonl"
    with StubServer() as srv:
        model = open_model(srv.url, Sampling.defaults())
        rep = generate_edge_cases(model, select_categories("all", cat), cat, per_category=2, seed=1, output=str(out),
                                  turns=2, chat_filter=pass_all, progress=False)
        assert rep.written == 50
        assert PLANTED_EMAIL in out.read_text()  # the client turns carry PII, as real generations may
        land([str(out)], source="gen_edge", family="edge_case_resulting_chats", license_tag="internal")

        work = tmp_path / "w"
        res = run_dbt(work, vars={"release_version": "v-gen", "distribution_min_records": 100000,
                                  "coverage_waivers": _required_families()})
        assert res.ok, res.output[-5000:]
        root = Path(local_root)
        for p in (root / "exports").rglob("*"):
            if p.is_file() and p.suffix != ".parquet":
                data = p.read_bytes()
                assert PLANTED_EMAIL.encode() not in data and PLANTED_PHONE[-8:].encode() not in data, p
        con = duckdb.connect(str(work / "lakehouse.duckdb"), read_only=True)
        rows = con.execute("select record_id, split, is_training_edge_case, pii_status, messages from release_conversations "
                           "where source_name = 'gen_edge'").fetchall()
        # nothing lost: each landed chat is released, folded into a near duplicate, or quarantined with a reason
        kept = con.execute("select count(*) from conversations where source_name = 'gen_edge'").fetchone()[0]
        quarantined = con.execute("select count(*) from quarantine where source_name = 'gen_edge'").fetchone()[0]
        assert kept + quarantined == 50 and rows
        assert all(r[2] is True and r[3] == "redacted" for r in rows)
        assert all(PLANTED_EMAIL not in json.dumps(r[4]) for r in rows)
        by_split: dict[str, set[str]] = {}
        for r in rows:
            by_split.setdefault(r[1], set()).add(r[0])
        assert by_split.get("train")

        counts: dict[str, int] = {}
        pp = tmp_path / "pp.jsonl"
        prep = generate_preference_pairs(model, records_from_release("v-gen", counts), per_record=1, seed=2,
                                         output=str(pp), judge=judge_pass_all(0.8), threshold=0.1,
                                         source="release:v-gen", progress=False)
    pairs = [json.loads(x) for x in pp.read_text().splitlines()]
    used = {p["metadata"]["source_record"] for p in pairs}
    assert prep.sources == len(by_split["train"]) == len(pairs) == len(used)
    assert used == by_split["train"]  # never a val or test conversation
    assert all(p["metadata"]["source_family"] == "edge_case_resulting_chats" for p in pairs)
