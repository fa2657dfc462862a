"""Curriculum routing keeps each family's crossover rules; hard holdouts reach test only; records
derived from one source record share a cluster and a split (one dbt build, ~1 min)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import duckdb
import pytest

from lakehouse.landing import land
from lakehouse.synth import write_jsonl
from pipeline_helpers import run_dbt

pytestmark = pytest.mark.dbt

RELEASE0 = ["mental_health_datasets", "cot_reasoning", "edge_case_generator", "voice_persona"]
VOCAB = [f"{a}{b}" for a in ("sal", "mor", "kip", "vet", "lun", "dro", "fen", "gar", "hul", "pim")
         for b in ("ax", "ob", "ite", "ung", "era", "ost", "ily", "umb", "ez", "oth")]


def words(rng: random.Random, n: int = 9) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(n))


def conversation(seed: int, turns: int) -> list[dict]:
    """Distinct (random content words) and empathic, coherent replies: they pass the stage-1 quality thresholds."""
    rng = random.Random(seed)
    out: list[dict] = []
    for _ in range(turns // 2):
        w = words(rng, 6)
        out += [{"role": "user", "content": f"Lately I keep thinking about {w} and I feel tired."},
                {"role": "assistant", "content": f"It sounds like {w} has been weighing on you, and that sounds "
                                                 "really hard. What has that been like for you?"}]
    return out


def qa_row(seed: int) -> dict:
    """One question with three distinct answers (several records of one source record)."""
    rng = random.Random(seed)
    w = words(rng, 6)
    answers = [f"It sounds like {w} has been weighing on you, and that sounds really hard. When {words(rng, 5)} "
               f"happens, what do you notice about {w.split()[k]}?" for k in range(3)]
    return {"question": f"Lately I keep thinking about {w} and I feel tired.", "answers": answers}


@pytest.fixture(scope="module")
def routed(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("routing")
    mp = pytest.MonkeyPatch()
    for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "DATASET_STORAGE_BACKEND"):
        mp.delenv(k, raising=False)
    mp.setenv("LAKEHOUSE_ROOT", str(tmp / "lake"))
    inputs = tmp / "in"
    inputs.mkdir()
    files = {
        # 24-turn conversations: priority and edge-case ones keep their stage; mental health ones become long-running
        ("prio", "priority_datasets"): [{"messages": conversation(100 + i, 24 if i < 3 else 4)} for i in range(5)],
        ("edge", "edge_case_generator"): [{"messages": conversation(200 + i, 24 if i < 2 else 4)} for i in range(60)],
        ("mh", "mental_health_datasets"): [{"messages": conversation(300 + i, 24 if i < 2 else 4)} for i in range(6)],
        # a persona chunk (phase A) and its dialogue pair (stage 4) derived from one transcript passage
        ("chunks", "video_transcripts"): [{"text": words(random.Random(400 + i), 60),
                                           "metadata": {"derived_from": f"talk-1#{i}"}} for i in range(30)],
        ("pairs", "voice_persona"): [{"messages": conversation(500 + i, 2), "metadata": {"derived_from": f"talk-1#{i}"}}
                                     for i in range(30)],
        # one Q/A row with several answers: several records of one source record
        ("qa", "mental_health_datasets"): [qa_row(600 + i) for i in range(20)],
    }
    for (source, family), rows in files.items():
        p = inputs / f"{source}.jsonl"
        write_jsonl(p, rows)
        rep = land([str(p)], source=source, family=family, license_tag="CC0-1.0")
        assert rep.files[0].status == "landed", rep.files[0].error
    # a folder of JSON files, each one session's list of turns with speaker codes: one conversation per file
    sessions = inputs / "sessions"
    sessions.mkdir()
    for i in range(3):
        turns = [{"role": "P1" if m["role"] == "user" else "P2", "content": m["content"], "annotation": []}
                 for m in conversation(800 + i, 6)]
        (sessions / f"s{i}.json").write_text(json.dumps(turns))
    rep = land([str(sessions)], source="sessions", family="mental_health_datasets", license_tag="CC0-1.0")
    assert [f.status for f in rep.files] == ["landed"] * 3
    assert all("roles inferred from turn order" in (f.shape_reason or "") for f in rep.files)
    work = tmp / "work"
    res = run_dbt(work, vars={"release_version": "v-routing", "coverage_waivers": RELEASE0,
                              "distribution_min_records": 100000, "pii_residual_scan": False})
    yield tmp, work, res
    mp.undo()


def _q(work: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(work / "lakehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_long_priority_and_edge_conversations_keep_their_stage(routed) -> None:
    _, work, res = routed
    assert res.ok, res.output[-4000:]
    rows = _q(work, "select source_name, family, stage, count(*) from release_conversations "
                    "where n_turns >= 20 group by all order by all")
    assert rows == [("edge", "edge_case_generator", 3, 2), ("mh", "long_running_therapy", 5, 2),
                    ("prio", "priority_datasets", 1, 3)]


def test_holdout_share_reaches_test_only(routed) -> None:
    _, work, res = routed
    assert res.ok, res.output[-4000:]
    rows = dict(_q(work, "select r.family, count(*) from release_conversations r "
                         "join int_conversations_routed t using (record_id) where t.holdout_reason = 'share' group by 1"))
    assert rows.get("edge_case_generator", 0) > 0  # 10% of 60 clusters, by sha256(seed:cluster_id)
    assert _q(work, "select distinct r.split from release_conversations r join int_conversations_routed t "
                    "using (record_id) where t.holdout_reason is not null") == [("test",)]
    # families without a share are not held out
    assert _q(work, "select count(*) from int_conversations_routed where family = 'priority_datasets' "
                    "and is_holdout") == [(0,)]


def test_derived_records_share_cluster_and_split(routed) -> None:
    _, work, res = routed
    assert res.ok, res.output[-4000:]
    # chunk i and pair i carry derived_from talk-1#i: one cluster, one split
    pairs = _q(work, "select c.cluster_id = p.cluster_id, c.split = p.split, p.split from release_conversations c "
                     "join release_conversations p on c.source_name = 'chunks' and p.source_name = 'pairs' "
                     "and c.row_number = p.row_number")
    assert len(pairs) == 30 and all(a and b for a, b, _ in pairs)
    # a pair held out by voice_persona's share takes its chunk (video_transcripts: no share) to test with it
    held = _q(work, "select count(*) from int_conversations_routed where source_name = 'chunks' "
                    "and holdout_reason = 'cluster'")
    assert held[0][0] > 0
    # the answers of one Q/A row share a cluster
    assert _q(work, "select max(n) from (select count(distinct cluster_id) n from release_conversations "
                    "where source_name = 'qa' group by row_number)") == [(1,)]


def test_gate_split_catches_a_share_holdout_outside_test(routed) -> None:
    tmp, work, res = routed
    assert res.ok, res.output[-4000:]
    con = duckdb.connect(str(work / "lakehouse.duckdb"))
    con.execute("update release_conversations set split = 'train' where record_id = (select min(r.record_id) "
                "from release_conversations r join int_conversations_routed t using (record_id) "
                "where t.holdout_reason = 'share' and r.source_name = 'edge')")
    con.close()
    out = run_dbt(work, command="test", select="gate_split_release_conversations*",
                  env={"LAKEHOUSE_ROOT": str(tmp / "lake")})
    assert not out.ok and "Failure in test gate_split_release_conversations" in out.output


def test_a_folder_of_turn_files_gives_one_conversation_per_file(routed) -> None:
    _, work, res = routed
    assert res.ok, res.output[-4000:]
    rows = _q(work, "select source_key, n_turns, [m.role for m in messages] from release_conversations "
                    "where source_name = 'sessions' order by source_key")
    assert len(rows) == 3 and {r[0].rsplit('/', 1)[-1] for r in rows} == {"s0.json", "s1.json", "s2.json"}
    assert all(r[1] == 6 and r[2] == ["user", "assistant"] * 3 for r in rows)
