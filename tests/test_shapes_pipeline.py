"""Every input shape lands with --format auto and converts through `dbt build --select release`;
what does not convert is quarantined with a reason; counts reconcile."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pytest

from lakehouse.export import load_manifest
from lakehouse.landing import land
from lakehouse.storage import Storage
from pipeline_helpers import REPO, run_dbt

pytestmark = pytest.mark.dbt
FIX = REPO / "tests" / "fixtures" / "samples"

SOURCES = [  # (path, source, family, license)
    ("counsel_chat", "counsel_chat", "mental_health_datasets", "MIT"),
    ("alpaca", "alpaca_demo", "cot_reasoning", "Apache-2.0"),
    ("sharegpt/fastchat_dummy_conversation_subset.json", "fastchat", "roleplay_simulator", "Apache-2.0"),
    ("sharegpt/llamafactory_dpo_en_demo_subset.json", "dpo_demo", "preference_pairs", "Apache-2.0"),
    ("sharegpt/llamafactory_kto_en_demo_subset.json", "kto_demo", "preference_pairs", "Apache-2.0"),
    ("hh_rlhf", "hh_harmless", "safety_guardrails_annihilator", "MIT"),
    ("speeches_sotu/1990_george_bush_r.txt", "sotu", "video_transcripts", "public-domain"),
]


def awkward_inputs(d: Path) -> dict[str, Path]:
    d.mkdir(parents=True, exist_ok=True)
    # one utterance per row, 2 conversations; conv B has 24 turns -> long_running_therapy
    rows = [("A", t, "client" if t % 2 else "therapist", f"turn {t} of conversation A about my week") for t in range(1, 5)]
    rows += [("B", t, "client" if t % 2 else "therapist", f"turn {t} of the long session about grief and coping") for t in range(1, 25)]
    utt = d / "utterances.csv"
    with open(utt, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["conv_id", "turn", "speaker", "utterance"])
        for r in reversed(rows):  # out of order on purpose: the turn column orders them
            w.writerow(r)
    tr = d / "session.txt"
    tr.write_text("Session notes, recorded 2021\n\nClient: I haven't been sleeping.\nIt's been weeks.\n"
                  "Therapist: That sounds hard. What keeps you up?\nClient: Worry about money.\n"
                  "Therapist: Let's look at what is in your control this week.\n")
    odd = d / "odd.jsonl"
    odd.write_text(
        json.dumps({"messages": [{"role": "narrator", "content": "Once upon a time"}, {"role": "assistant", "content": "ok"}]}) + "\n"
        + json.dumps({"messages": [{"role": "user", "content": "I donâ€™t know what to do"}, {"role": "assistant", "content": "Let\u2019s take it one step at a time."}]}) + "\n"
        + "{broken json\n")
    return {"utterances": utt, "transcript": tr, "odd": odd}


def test_every_shape_through_the_pipeline(local_root, tmp_path):
    for rel, source, family, lic in SOURCES:
        rep = land([str(FIX / rel)], source=source, family=family, license_tag=lic)
        assert [f.status for f in rep.files] == ["landed"] * len(rep.files), [f.error for f in rep.files]
    extra = awkward_inputs(tmp_path / "extra")
    shapes = {}
    for name, path in extra.items():
        # cptsd: feeds long_running_therapy and has no empathy threshold for these terse fixtures
        rep = land([str(path)], source=f"x_{name}", family="cptsd", license_tag="CC0-1.0")
        assert rep.files[0].status == "landed", rep.files[0].error
        shapes[name] = rep.files[0].shape
    assert shapes == {"utterances": "utterance_rows", "transcript": "transcript", "odd": "chatml"}

    res = run_dbt(tmp_path / "w", vars={"release_version": "v-shapes", "distribution_min_records": 100000,
                                          "coverage_waivers": ["cot_reasoning", "edge_case_generator", "voice_persona"]})
    assert res.ok, res.output[-5000:]
    con = duckdb.connect(str(tmp_path / "w" / "lakehouse.duckdb"), read_only=True)
    cov = {r[0]: r[1:] for r in con.execute(
        "select source_name, rows_read, rows_converted, rows_quarantined, records_converted, records_quarantined, "
        "quarantined_by_reason, repaired_mojibake, shapes from coverage").fetchall()}
    for rel, source, *_ in SOURCES:
        rows_read, conv_rows, q_rows, conv, q, reasons, _moj, shape = cov[source]
        # converted: released, or held back only by the clinical quality/safety rules
        by_policy = sum(v for k, v in json.loads(reasons or "{}").items() if k.startswith(("quality:", "safety:")))
        assert rows_read == conv_rows + q_rows and conv + by_policy > 0, (source, cov[source])
    # shapes detected from the files themselves
    assert cov["counsel_chat"][-1] == "qa" and cov["alpaca_demo"][-1] == "alpaca"
    assert cov["dpo_demo"][-1] == "preference" and cov["kto_demo"][-1] == "kto" and cov["sotu"][-1] == "text"
    # utterance rows grouped into 2 conversations, ordered by turn
    assert cov["x_utterances"][:5] == (28, 28, 0, 2, 0)
    turns = con.execute("select messages from conversations where source_name = 'x_utterances' order by n_turns").fetchall()
    assert [m["content"] for m in turns[0][0]][:2] == ["turn 1 of conversation A about my week", "turn 2 of conversation A about my week"]
    # awkward records: unknown role and broken JSON quarantined with reasons; mojibake repaired
    reasons = json.loads(cov["x_odd"][5])
    assert reasons == {"invalid_json": 1, "unknown_role": 1}
    assert cov["x_odd"][6] == 1
    fixed = con.execute("select messages[1].content from conversations where source_name = 'x_odd'").fetchone()[0]
    assert fixed == "I don\u2019t know what to do"
    # long conversations form the long_running_therapy family (stage 5)
    fam = con.execute("select family, stage from release_conversations where source_name = 'x_utterances' and n_turns >= 20").fetchall()
    assert fam == [("long_running_therapy", 5)]
    # the red-team source is an edge-case family: flagged, not filtered by the safety lexicon
    edge = con.execute("select bool_and(is_training_edge_case), count(*) from release_conversations where source_name = 'hh_harmless'").fetchone()
    assert edge[0] is True and edge[1] > 0
    # KTO rows are phase C, in their own shards
    kto = con.execute("select distinct phase, shard_key like 'shards/kto/%' from release_conversations where source_name = 'kto_demo'").fetchall()
    assert kto == [("C", True)]
    # the release covers the three phases and reports coverage
    st = Storage.from_env()
    m = load_manifest(st, "v-shapes")
    assert set(m["counts"]["by_kind"]) == {"sft", "preference", "pretrain"}
    cur = json.loads(Path(st.root, "exports/releases/v-shapes/curriculum.json").read_text())
    assert [p["phase"] for p in cur["phases"]] == ["A", "B", "C"]
    stage_nums = [s["stage"] for s in cur["phases"][1]["stages"]]
    assert stage_nums == sorted(stage_nums) and 5 in stage_nums
    coverage = json.loads(Path(st.root, "exports/releases/v-shapes/reports/coverage.json").read_text())
    assert {s["source_name"] for s in coverage["sources"]} >= {s for _, s, *_ in SOURCES}
