"""Bias and cultural-competency signals: the per-record batch function and the report on the bundled samples."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = [  # (file, family) as samples/README.md lands them
    ("chatml/synthetic_therapy_sessions.jsonl", "mental_health_datasets"),
    ("counsel_chat/counsel_chat_sample.csv", "mental_health_datasets"),
    ("sharegpt/fastchat_dummy_conversation.json", "roleplay_simulator"),
    ("hh_rlhf/harmless_base_test_sample.jsonl.gz", "safety_guardrails_annihilator"),
    ("speeches/1994_william_j_clinton_d.txt", "video_transcripts"),
]


def bundled_records() -> list[dict]:  # type: ignore[type-arg]
    """The bundled samples converted as the pipeline converts them (lakehouse.shapes), with family and a split."""
    from lakehouse.shapes import convert, detect_shape, read_path

    out = []
    for rel, family in SAMPLES:
        raws = [r for r in read_path(REPO / "samples" / rel) if r.record is not None]
        decision = detect_shape([r.record for r in raws[:50]], file_format="txt" if rel.endswith(".txt") else None)
        for i, raw in enumerate(raws):
            for c in convert(raw.record, decision.shape, decision.options):
                if c.quarantine_reason:
                    continue
                rec = {k: getattr(c, k) for k in ("messages", "prompt", "chosen", "rejected", "text") if getattr(c, k) is not None}
                out.append({**rec, "metadata": {"family": family, "split": "test" if i % 10 == 0 else "train",
                                                "kind": c.kind, "record_id": f"{family}:{rel}:{i}"}})
    return out


@pytest.fixture(scope="module")
def records() -> list[dict]:  # type: ignore[type-arg]
    return bundled_records()


CASES = [
    ("Women are so dramatic about everything.", ["gender:women"]),
    ("Immigrants are always lazy.", ["nationality_language:immigrants_refugees"]),
    ("Old people are a burden.", ["age:older"]),
    ("Mentally ill people are dangerous.", ["disability:psychiatric"]),
    ("Muslims are all terrorists.", ["religion:muslim"]),
    ("Gay people are just attention seekers.", ["sogi:gay_lesbian"]),
    ("Poor people are lazy and never work.", ["socioeconomic:low_income"]),
    ("Black people are criminals.", ["race_ethnicity:black"]),
    # not stereotyping: a person, a hedge, a positive or neutral statement
    ("My mother is always angry with me.", []),
    ("Not all men are violent, and you deserve safety.", []),
    ("Some women are emotional, like anyone.", []),
    ("Immigrants are often under a lot of stress when they arrive.", []),
]


@pytest.mark.parametrize("text,flags", CASES, ids=[c[0][:30] for c in CASES])
def test_stereotype_flags(text: str, flags: list[str]) -> None:
    from lakehouse.review.bias import record_bias

    got = record_bias({"messages": [{"role": "user", "content": "hello"}, {"role": "assistant", "content": text}]})
    assert got["stereotype_flags"] == flags
    assert got["bias_score"] == (1.0 if flags else 0.0)


def test_record_bias_roles_and_language() -> None:
    from lakehouse.review.bias import record_bias

    pref = {"prompt": [{"role": "user", "content": "Tell me about my neighbours."}],
            "chosen": [{"role": "assistant", "content": "What about them worries you?"}],
            "rejected": [{"role": "assistant", "content": "Immigrants are always lazy."}]}
    got = record_bias(pref)     # a rejected answer is the bad example: mentioned, not flagged
    assert got["stereotype_flags"] == [] and got["group_mentions"] == ["nationality_language:immigrants_refugees"]
    client = record_bias({"messages": [{"role": "user", "content": "Men are always liars."},
                                       {"role": "assistant", "content": "It sounds like you've been hurt."}]})
    assert client["stereotype_flags"] == ["gender:men"] and client["bias_score"] == 0.0  # the model's turns are clean
    fr = record_bias({"messages": [{"role": "user", "content": "Je me sens très triste depuis des semaines et je ne dors plus."}]})
    assert fr["language"] == "fr" and fr["language_score"] > 0.9
    assert record_bias({"text": "   "})["language"] == "und"


def test_bias_batch_contract() -> None:
    import pyarrow as pa

    from lakehouse.review.bias import bias_batch, bias_schema

    convs = [[{"role": "user", "content": t}, {"role": "assistant", "content": t}] for t, _ in CASES]
    batch = pa.RecordBatch.from_pydict({"kind": ["sft"] * len(convs), "messages": convs, "text": [None] * len(convs)})
    out = bias_batch(batch)
    assert out.num_rows == batch.num_rows and out.schema == bias_schema()
    # each row's result depends on that row only: a reversed batch gives the reversed results
    rev = bias_batch(pa.RecordBatch.from_pydict({"messages": list(reversed(convs))}))
    assert rev.to_pylist() == list(reversed(out.to_pylist()))
    assert [r["stereotype_flags"] for r in out.to_pylist()] == [f for _, f in CASES]


def test_bias_report_on_bundled_samples(records: list[dict]) -> None:  # type: ignore[type-arg]
    from lakehouse.review.bias import bias_report

    rep = bias_report(records, release="v-test")
    assert rep["records"] == len(records) > 300
    fams = set(rep["mention_rates"]["by_family"])
    assert {"mental_health_datasets", "roleplay_simulator", "safety_guardrails_annihilator", "video_transcripts"} <= fams
    assert set(rep["mention_rates"]["by_split"]) == {"train", "test"}
    cats = rep["mention_rates"]["overall"]["categories"]
    assert set(cats) == {"age", "disability", "gender", "nationality_language", "race_ethnicity", "religion",
                         "socioeconomic", "sogi"}
    mh = rep["mention_rates"]["by_family"]["mental_health_datasets"]["categories"]
    assert mh["gender"]["rate"] > 0.1                   # therapy talk is full of mothers, husbands, girlfriends
    assert 0 <= rep["stereotyping"]["overall"]["rate"] < 0.2
    assert rep["language"]["overall"]["counts"].get("en", 0) / len(records) > 0.9
    assert rep["mention_rates"]["by_family_split"]["mental_health_datasets"]["train"]["records"] > 0
    # deterministic whatever the record order, and JSON-ready
    shuffled = list(records)
    random.Random(3).shuffle(shuffled)
    assert json.dumps(bias_report(shuffled, release="v-test"), sort_keys=True) == json.dumps(rep, sort_keys=True)
    assert rep["baseline"] is None and "Human:" not in json.dumps(rep)


def test_bias_report_against_a_baseline(records: list[dict]) -> None:  # type: ignore[type-arg]
    from lakehouse.review.bias import bias_report

    mh = [r for r in records if r["metadata"]["family"] == "mental_health_datasets"]
    base = bias_report(mh[: len(mh) // 2], release="v-old")
    biased = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Women are so dramatic."}],
              "metadata": {"family": "mental_health_datasets", "split": "train"}}
    cur = bias_report(mh + [biased] * 5, base, release="v-new")
    b = cur["baseline"]
    assert b["release"] == "v-old" and b["records"] == {"current": len(mh) + 5, "baseline": len(mh) // 2}
    assert b["stereotype_rate_change"]["by_family"]["mental_health_datasets"] > 0
    assert set(b["mention_rate_change"]["overall"]) == set(cur["categories"])
    assert b["lexicon_changed"] is False
    # precomputed per-record columns are used as given (the exporter can pass them from the build)
    pre = [{"family": "f", "split": "train", "group_mentions": ["gender:women"], "stereotype_flags": ["gender:women"],
            "bias_score": 0.5, "language": "en"}]
    rep = bias_report(pre)
    assert rep["stereotyping"]["overall"]["records_flagged"] == 1 and rep["language"]["overall"]["counts"] == {"en": 1}


def test_load_bias_report_for_baseline(local_root: str) -> None:
    from lakehouse.review.bias import load_bias_report
    from lakehouse.review.release import ReviewError
    from lakehouse.storage import Storage

    from review_helpers import make_records, write_release

    storage = Storage.from_env(local_root)
    write_release(local_root, "v1", make_records(2))
    with pytest.raises(ReviewError, match="has no bias report"):
        load_bias_report(storage, "v1")
    with pytest.raises(ReviewError, match="not found"):
        load_bias_report(storage, "v0")
    storage.write_bytes("reviews/v1/bias.json", b'{"release": "v1", "records": 6}')
    assert load_bias_report(storage, "v1")["records"] == 6
