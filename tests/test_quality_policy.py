"""Quality/safety release policy: the pure Python decision and its SQL form (the
quality_quarantine_reason macro of macros/gates/gate_quality.sql) agree on every case."""

from __future__ import annotations

import csv
import itertools
import re
from pathlib import Path
from typing import Any

import duckdb
import jinja2
import pyarrow as pa
import pytest

from lakehouse.quality.policy import quarantine_reason, safety_reason, threshold_reasons

REPO = Path(__file__).resolve().parents[1]
STAGE1 = {"min_empathy": 0.7, "min_coherence": 0.8, "min_crisis_handling": 0.5}


def scores(**kw: Any) -> dict[str, Any]:
    base = {"empathy": 0.9, "emotional_reactions": 0.9, "interpretations": 0.9, "explorations": 0.9, "coherence": 0.9,
            "reasoning_completeness": 0.9, "crisis_disclosure": False, "crisis_categories": [], "crisis_handling": None,
            "harmful_response": False, "toxic_assistant": False, "preference_margin": None}
    return {**base, **kw}


def test_crisis_language_alone_never_quarantines() -> None:
    handled = scores(crisis_disclosure=True, crisis_categories=["suicide"], crisis_handling=1.0)
    assert quarantine_reason(handled, STAGE1, kind="sft", is_edge_case=False) is None
    assert safety_reason(scores(crisis_disclosure=True, crisis_categories=["abuse"], crisis_handling=None),
                         is_edge_case=False) is None   # disclosed in the last turn: nothing to judge


def test_safety_reasons_and_edge_bypass() -> None:
    unhandled = scores(crisis_disclosure=True, crisis_categories=["suicide"], crisis_handling=0.2)
    assert quarantine_reason(unhandled, STAGE1, kind="sft", is_edge_case=False) == (
        "safety:crisis_unhandled", "0.2 < 0.5 (suicide)")
    assert safety_reason(scores(harmful_response=True, toxic_assistant=True), is_edge_case=False) == (
        "safety:harmful_response", "")
    assert safety_reason(scores(toxic_assistant=True), is_edge_case=False) == ("safety:toxic_assistant", "")
    for s in (unhandled, scores(harmful_response=True), scores(toxic_assistant=True)):
        assert safety_reason(s, is_edge_case=True) is None
        assert safety_reason(s, is_edge_case=False, label=False) is None   # KTO "undesirable" example


def test_thresholds_per_family_kind_and_missing() -> None:
    low = scores(empathy=0.41, coherence=0.5)
    assert threshold_reasons(low, STAGE1, kind="sft") == [("quality:empathy", "0.41 < 0.7"), ("quality:coherence", "0.5 < 0.8")]
    assert threshold_reasons(low, {"min_empathy": None, "min_coherence": ""}, kind="sft") == []
    assert threshold_reasons(low, STAGE1, kind="pretrain") == []
    assert threshold_reasons(scores(empathy=None), STAGE1, kind="sft") == [("quality:empathy", "missing")]
    pm = {"min_preference_margin": 0.1}
    assert threshold_reasons(scores(preference_margin=0.05), pm, kind="preference") == [("quality:preference_margin", "0.05 < 0.1")]
    assert threshold_reasons(scores(preference_margin=None), pm, kind="sft") == []
    # edge cases keep their family's thresholds (coherence) but never the safety rules
    edge = {"min_coherence": 0.8}
    assert quarantine_reason(scores(coherence=0.3, harmful_response=True), edge, kind="sft", is_edge_case=True) == (
        "quality:coherence", "0.3 < 0.8")


def test_registry_defaults_follow_the_stage_values() -> None:
    reg = {r["family"]: r for r in csv.DictReader((REPO / "seeds/release/dataset_registry.csv").open(encoding="utf-8"))}
    for fam in ("mental_health_datasets", "professional_therapeutic", "priority_datasets"):
        assert (reg[fam]["min_empathy"], reg[fam]["min_coherence"]) == ("0.7", "0.8")
    assert (reg["cot_reasoning"]["min_reasoning_completeness"], reg["cot_reasoning"]["min_empathy"]) == ("0.8", "0.6")
    assert reg["voice_persona"]["min_empathy"] == "0.6"
    assert reg["preference_pairs"]["min_preference_margin"]
    for fam, r in reg.items():
        if r["is_edge_case"] == "true":
            assert not r["min_crisis_handling"] and r["quality_waiver"], fam
        for col in ("min_empathy", "min_coherence", "min_reasoning_completeness", "min_crisis_handling"):
            assert r[col] == "" or 0.0 <= float(r[col]) <= 1.0


def _macro_sql() -> str:
    text = (REPO / "macros/gates/gate_quality.sql").read_text(encoding="utf-8")
    body = re.search(r"({% macro quality_quarantine_reason.*?{% endmacro %})", text, re.S)
    assert body
    env = jinja2.Environment()
    return env.from_string(body.group(1) + "{{ quality_quarantine_reason('s.', 's.') }}").render()


def _cases() -> list[dict[str, Any]]:
    out = []
    for kind, label, edge, harmful, toxic, ch, emp, coh, margin, thr in itertools.product(
            ["sft", "preference", "pretrain"], [None, False], [False, True], [False, True], [False, True],
            [None, 0.2, 0.9], [None, 0.41, 0.9], [0.5, 0.95], [None, 0.05, 0.3],
            [STAGE1, {"min_coherence": 0.8}, {"min_preference_margin": 0.1, "min_crisis_handling": 0.4}]):
        out.append({"kind": kind, "label": label, "is_training_edge_case": edge, "harmful_response": harmful,
                    "toxic_assistant": toxic, "crisis_disclosure": ch is not None, "crisis_categories": ["suicide"] if ch is not None else [],
                    "crisis_handling": ch, "empathy": emp, "coherence": coh, "reasoning_completeness": None,
                    "preference_margin": margin, **{c: thr.get(c) for c in
                    ("min_empathy", "min_coherence", "min_reasoning_completeness", "min_preference_margin", "min_crisis_handling")}})
    return out


def test_sql_macro_agrees_with_python(monkeypatch: pytest.MonkeyPatch) -> None:
    cases = _cases()
    con = duckdb.connect()
    table = pa.Table.from_pylist([{"i": i, **c} for i, c in enumerate(cases)], schema=pa.schema(
        [("i", pa.int64()), ("kind", pa.string()), ("label", pa.bool_()), ("is_training_edge_case", pa.bool_()),
         ("harmful_response", pa.bool_()), ("toxic_assistant", pa.bool_()), ("crisis_disclosure", pa.bool_()),
         ("crisis_categories", pa.list_(pa.string()))]
        + [(k, pa.float64()) for k in ("crisis_handling", "empathy", "coherence", "reasoning_completeness",
                                        "preference_margin", "min_empathy", "min_coherence", "min_reasoning_completeness",
                                        "min_preference_margin", "min_crisis_handling")]))
    con.register("s", table)
    got = dict(con.execute(f"select i, {_macro_sql()} from s").fetchall())
    for i, c in enumerate(cases):
        thr = {k: c[k] for k in c if k.startswith("min_")}
        r = quarantine_reason(c, thr, kind=c["kind"], is_edge_case=c["is_training_edge_case"], label=c["label"])
        want = None if r is None else f"{r[0]} {r[1]}".rstrip()
        assert got[i] == want, (c, got[i], want)


def test_gate_quality_sql_fails_unscored_and_below_threshold_records() -> None:
    text = (REPO / "macros/gates/gate_quality.sql").read_text(encoding="utf-8")
    macro = re.search(r"({% macro quality_quarantine_reason.*?{% endmacro %})", text, re.S).group(1)  # type: ignore[union-attr]
    macro += re.search(r"({% macro bias_quarantine_reason.*?{% endmacro %})", text, re.S).group(1)  # type: ignore[union-attr]
    body = re.search(r"{% test gate_quality\(model, registry, family_column='source_family'\) %}(.*?){% endtest %}", text, re.S)
    assert body
    sql = jinja2.Environment().from_string(macro + body.group(1)).render(model="m", registry="r", family_column="source_family")
    con = duckdb.connect()
    con.execute("""create table r as select * from (values ('mh', 0.7, 0.8, null, null, 0.5, 0.2),
                   ('edge', null, 0.8, null, null, null, null))
                   t(family, min_empathy, min_coherence, min_reasoning_completeness, min_preference_margin, min_crisis_handling,
                     max_bias_score)""")
    con.execute("""create table m as select * from (values
        ('ok', 'mh', 'sft', null, false, false, false, false, []::varchar[], null, 0.9, 0.9, null, null, null),
        ('crisis_ok', 'mh', 'sft', null, false, false, false, true, ['suicide'], 1.0, 0.9, 0.9, null, null, null),
        ('low', 'mh', 'sft', null, false, false, false, false, []::varchar[], null, 0.41, 0.9, null, null, null),
        ('unscored', 'mh', 'sft', null, false, null, null, null, null, null, null, null, null, null, null),
        ('edge_harm', 'edge', 'sft', null, true, true, false, false, []::varchar[], null, 0.0, 0.9, null, null, null),
        ('low_released_by_review', 'mh', 'sft', null, false, false, false, false, []::varchar[], null, 0.41, 0.9, null,
         null, 'decision-1'))
        t(record_id, source_family, kind, label, is_training_edge_case, harmful_response, toxic_assistant, crisis_disclosure,
          crisis_categories, crisis_handling, empathy, coherence, reasoning_completeness, preference_margin,
          review_release_decision_id)""")
    # the stage-1 bias limit (registry max_bias_score; edge cases bypass it)
    con.execute("alter table m add column bias_score double default 0.0")
    con.execute("alter table m add column stereotype_flags varchar[] default []::varchar[]")
    con.execute("""insert into m by name select * from (values
        ('biased', 'mh', 'sft', false, false, false, false, 0.9, 0.9, 0.5, ['gender:women']),
        ('edge_biased', 'edge', 'sft', true, false, false, false, 0.0, 0.9, 1.0, ['gender:women']))
        t(record_id, source_family, kind, is_training_edge_case, harmful_response, toxic_assistant, crisis_disclosure,
          empathy, coherence, bias_score, stereotype_flags)""")
    failing = dict(con.execute(sql).fetchall())
    assert failing == {"low": "quality:empathy 0.41 < 0.7", "unscored": "quality: not scored",
                       "biased": "quality:bias 0.5 > 0.2 (gender:women)"}


def _registry_row(family: str) -> dict[str, Any]:
    for r in csv.DictReader((REPO / "seeds/release/dataset_registry.csv").open(encoding="utf-8")):
        if r["family"] == family:
            return {k: (float(v) if k.startswith("min_") and v else None) for k, v in r.items() if k.startswith("min_")}
    raise KeyError(family)


def test_scored_crisis_conversations_release_from_a_normal_family() -> None:
    from lakehouse.quality.scorers import Record, get_scorer

    thr = _registry_row("mental_health_datasets")
    disclosure = {"role": "user", "content": "I can't do this anymore. I've been thinking about ending my life and I feel so alone."}
    handled = {"role": "assistant", "content": "I'm really sorry you're feeling this alone, and thank you for telling me. Are you "
               "safe right now? You can call or text 988 any time, day or night. Can you tell me what has been happening?"}
    dismissed = {"role": "assistant", "content": "That's dramatic, just sleep it off."}
    s = get_scorer(embeddings=False)
    good, bad = s.score_records([Record("sft", messages=[disclosure, handled]), Record("sft", messages=[disclosure, dismissed])])
    assert good["crisis_disclosure"] and quarantine_reason(good, thr, kind="sft", is_edge_case=False) is None
    assert quarantine_reason(bad, thr, kind="sft", is_edge_case=False)[0] == "safety:harmful_response"  # type: ignore[index]
    assert safety_reason(bad, is_edge_case=True) is None   # edge cases bypass safety (keep their coherence threshold)


def test_bundled_counsel_chat_loses_no_record_for_crisis_content() -> None:
    from lakehouse.quality.scorers import Record, get_scorer

    rows = list(csv.DictReader((REPO / "samples/counsel_chat/counsel_chat_sample.csv").open(encoding="utf-8")))
    recs = [Record("sft", messages=[{"role": "user", "content": f"{r['questionTitle']}\n{r['questionText']}"},
                                    {"role": "assistant", "content": r["answerText"]}]) for r in rows]
    scores = get_scorer(embeddings=False).score_records(recs)
    assert sum(s["crisis_disclosure"] for s in scores) >= 15      # crisis content is there, flagged
    safety = [safety_reason(s, is_edge_case=False) for s in scores]
    assert [r for r in safety if r] == []
