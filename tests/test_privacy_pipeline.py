"""Privacy end to end: a planted unique PII string appears nowhere in the release, in any curated
Delta table, or in any log; only raw/ and quarantine/ keep originals. Licenses deny by default."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from lakehouse.landing import land
from lakehouse.storage import Storage
from pipeline_helpers import run_dbt

pytestmark = pytest.mark.dbt

PLANTED_EMAIL = "zephyrine.quillfeather.7731@example.org"
PLANTED_PHONE = "(415) 555-0187"


CRISIS = "I took 30 pills two weeks ago and I still think about it tonight."


def conv(i: int, extra: str = "", crisis: bool = False) -> dict:
    return {"messages": [
        {"role": "user", "content": f"I've been anxious about my exams, week {i}. {extra}".strip()},
        {"role": "assistant", "content": f"It sounds like the exams in week {i} are weighing on you, and feeling anxious "
                                         f"about them makes a lot of sense. What worries you most about week {i}?"},
        {"role": "user", "content": CRISIS if crisis else f"Mostly that I will freeze during the test in week {i}."},
        {"role": "assistant", "content": "I hear how frightening that is for you, and I'm glad you told me. What do you "
                                         "imagine happening when you freeze, and what has helped you feel calmer before?"},
    ]}


def test_planted_pii_is_nowhere_but_raw_and_quarantine(local_root, tmp_path):
    rows = [conv(i) for i in range(30)]
    rows[4] = conv(4, f"You can email me at {PLANTED_EMAIL} or call {PLANTED_PHONE}, my therapist Dr. Sarah Mitchell said to.")
    rows[7] = conv(7, crisis=True)  # non-edge crisis disclosure the reply does not handle: safety:crisis_unhandled
    f = tmp_path / "mh.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    # the same conversation again in an unlicensed source: quarantined entirely (license)
    g = tmp_path / "nolicense.jsonl"
    g.write_text(json.dumps(conv(99, f"Write to {PLANTED_EMAIL}.")) + "\n")
    # edge-case family: bypasses safety filters, never redaction
    e = tmp_path / "edge.jsonl"
    e.write_text(json.dumps(conv(500, f"Reach me at {PLANTED_EMAIL}", crisis=True)) + "\n")
    land([str(f)], source="mh", family="mental_health_datasets", license_tag="MIT")
    land([str(g)], source="unlicensed", family="mental_health_datasets", license_tag=None)
    land([str(e)], source="edge", family="edge_case_synthetic", license_tag="CC0-1.0")
    # crossover: red-team family may feed only phase C, so its SFT conversations never reach SFT
    r = tmp_path / "redteam.jsonl"
    r.write_text(json.dumps(conv(700)) + "\n")
    land([str(r)], source="redteam", family="safety_guardrails_annihilator", license_tag="MIT")

    work = tmp_path / "w"
    # only some families are landed here: the Release-0 families it lacks are waived
    res = run_dbt(work, vars={"release_version": "v-priv", "distribution_min_records": 100000,
                              "coverage_waivers": ["cot_reasoning", "edge_case_generator", "voice_persona", "mental_health_datasets"]})
    assert res.ok, res.output[-5000:]
    root = Path(local_root)

    def files_containing(base: Path, needle: bytes) -> list[str]:
        hits = []
        for p in base.rglob("*"):
            if p.is_file():
                data = p.read_bytes()
                if p.suffix == ".parquet":
                    continue  # checked through Delta reads below (compressed pages)
                if needle in data:
                    hits.append(str(p))
        return hits

    for needle in (PLANTED_EMAIL.encode(), b"555-0187", b"Sarah Mitchell"):
        assert files_containing(root / "exports", needle) == []
        assert files_containing(work / "logs", needle) == []
        assert needle not in res.output.encode()
    # curated Delta tables: read every string cell
    import deltalake

    st = Storage.from_env()
    for key in ("curated/conversations", "curated/coverage", "catalog/release_records"):
        t = deltalake.DeltaTable(st.uri(key)).to_pyarrow_table()
        blob = json.dumps(t.to_pylist(), default=str)
        assert PLANTED_EMAIL not in blob and "555-0187" not in blob and "Sarah Mitchell" not in blob, key
    # raw and quarantine keep originals by design
    raw = json.dumps(deltalake.DeltaTable(st.uri("raw/mh")).to_pyarrow_table().to_pylist(), default=str)
    assert PLANTED_EMAIL in raw
    rows = deltalake.DeltaTable(st.uri("quarantine/records")).to_pyarrow_table().to_pylist()
    q = {r["source_name"]: r for r in rows}
    assert q["unlicensed"]["reason_code"] == "license" and PLANTED_EMAIL in q["unlicensed"]["raw_record"]
    # which mh records are quarantined (quality thresholds, safety policy) is tested with those
    # policies; here: each quarantined record keeps its original and says why
    assert all(r["reason_code"] and r["raw_record"] for r in rows if r["source_name"] == "mh")
    assert q["redteam"]["reason_code"] == "crossover"

    con = duckdb.connect(str(work / "lakehouse.duckdb"), read_only=True)
    # consistent placeholders, crisis words intact, statuses and counts recorded
    msgs, status, counts = con.execute(
        "select messages, pii_status, pii_redactions from release_conversations where source_name = 'mh' and row_number = 5").fetchone()
    text = msgs[0]["content"]
    assert "<EMAIL_ADDRESS_1>" in text or "<EMAIL_1>" in text
    assert status == "redacted" and json.loads(counts)
    # the edge case was released with its crisis content unchanged, and redacted all the same
    edge = con.execute("select messages, is_training_edge_case, pii_status from release_conversations where source_name = 'edge'").fetchone()
    assert edge[1] is True and edge[2] == "redacted" and PLANTED_EMAIL not in json.dumps(edge[0])
    assert edge[0][2]["content"] == CRISIS
    cov = con.execute("select quarantined_by_reason, license_quarantined from coverage where source_name = 'unlicensed'").fetchone()
    assert json.loads(cov[0]) == {"license": 1} and cov[1] is True
    audit = json.loads((root / "exports/releases/v-priv/reports/audit.json").read_text())
    assert audit["redactions_by_entity_type"] and PLANTED_EMAIL not in json.dumps(audit)
    # provenance of the transformation travels with every record
    line = json.loads((root / "exports/releases/v-priv/compiled/sft/train.jsonl").read_text().splitlines()[0])
    t = line["metadata"]["transform"]
    assert t["package_version"] and t["registry_version"] and t["pii_config_hash"] and t["pii_model"]
