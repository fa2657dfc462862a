"""Clinical quality scorers: hand-made cases (lexicon-only and with the packaged MiniLM), batch
contract (schema, order, batch-composition independence), fingerprint, metadata."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from lakehouse.quality import QualityConfigError, load_quality_config
from lakehouse.quality.batch import QUALITY_SCHEMA, quality_fingerprint, quality_metadata, score_batch
from lakehouse.quality.scorers import MECHANISMS, Record, get_scorer

MSG = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
IN_SCHEMA = pa.schema([("kind", pa.string()), ("messages", MSG), ("prompt", MSG), ("chosen", MSG),
                       ("rejected", MSG), ("text", pa.string())])

CLIENT = "I've been feeling so lonely and hopeless since my divorce. I cry every night and I feel worthless."
EMPATHIC = ("I'm so sorry you're going through this. It sounds like the divorce has left you feeling really alone, "
            "and crying every night must be exhausting. Can you tell me more about what the evenings are like for you?")
DISMISSIVE = "Everyone gets divorced. Just get over it and find someone new."
OFF_TOPIC = "The capital of France is Paris. Bananas are rich in potassium and the stock market rose today."
DISCLOSURE = "I don't see the point anymore. I want to kill myself."
HANDLED = ("Thank you for telling me, I'm really glad you reached out. Are you safe right now? If you are in danger, "
           "please call or text 988, the Suicide & Crisis Lifeline, any time. I'm here with you; can you tell me "
           "what has been happening?")
DRAMATIC = "That's dramatic, just sleep it off."
LETHAL = "A lethal dose of acetaminophen is about 10 grams, so around 20 pills would do it."


def conv(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"role": r, "content": c} for r, c in pairs]


def sft(*pairs: tuple[str, str]) -> Record:
    return Record("sft", messages=conv(*pairs))


def batch_of(rows: list[dict[str, Any]]) -> pa.RecordBatch:
    full = [{k: r.get(k) for k in IN_SCHEMA.names} for r in rows]
    return pa.RecordBatch.from_pylist(full, schema=IN_SCHEMA)


@pytest.fixture(scope="module", params=["lexicon", "minilm"])
def scorer(request):  # type: ignore[no-untyped-def]
    """Every hand-made case must hold in lexicon-only mode and with the packaged MiniLM."""
    if request.param == "lexicon":
        return get_scorer(embeddings=False)
    try:
        return get_scorer()
    except QualityConfigError as e:  # pragma: no cover - the package is a base dependency
        pytest.skip(f"embedding model unavailable: {e}")


def score(scorer, rec: Record) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return scorer.score_records([rec])[0]


def test_empathic_reply_outscores_dismissive_on_each_mechanism(scorer) -> None:  # type: ignore[no-untyped-def]
    good = score(scorer, sft(("user", CLIENT), ("assistant", EMPATHIC)))
    bad = score(scorer, sft(("user", CLIENT), ("assistant", DISMISSIVE)))
    for m in MECHANISMS:
        assert good[m] > bad[m], m
    assert good["empathy"] >= 0.7 > 0.3 > bad["empathy"]
    assert bad["harmful_response"] and not good["harmful_response"]


@pytest.mark.parametrize("mechanism,with_cue,without", [
    ("emotional_reactions", "I'm so sorry, that sounds really painful.", "Divorce is common."),
    ("interpretations", "It sounds like you feel abandoned and worthless since the divorce.", "Divorce is common."),
    ("explorations", "What have the evenings been like for you since the divorce?", "Divorce is common."),
])
def test_each_mechanism_responds_to_its_cue(scorer, mechanism: str, with_cue: str, without: str) -> None:  # type: ignore[no-untyped-def]
    a = score(scorer, sft(("user", CLIENT), ("assistant", with_cue)))
    b = score(scorer, sft(("user", CLIENT), ("assistant", without)))
    assert a[mechanism] >= 0.5 and b[mechanism] == 0.0


def test_off_topic_reply_lowers_coherence(scorer) -> None:  # type: ignore[no-untyped-def]
    on = score(scorer, sft(("user", CLIENT), ("assistant", EMPATHIC)))
    off = score(scorer, sft(("user", CLIENT), ("assistant", OFF_TOPIC)))
    assert on["coherence"] >= 0.8 and off["coherence"] < 0.3
    drift = score(scorer, sft(("user", CLIENT), ("assistant", EMPATHIC), ("user", "Mostly at night, when the house is quiet."),
                              ("assistant", OFF_TOPIC)))
    assert drift["coherence"] < on["coherence"]


def test_crisis_handling_988_and_safety_question_passes_dramatic_fails(scorer) -> None:  # type: ignore[no-untyped-def]
    good = score(scorer, sft(("user", DISCLOSURE), ("assistant", HANDLED)))
    bad = score(scorer, sft(("user", DISCLOSURE), ("assistant", DRAMATIC)))
    assert good["crisis_disclosure"] and good["crisis_categories"] == ["suicide"]
    assert good["crisis_handling"] >= 0.9 and not good["harmful_response"]
    assert bad["crisis_disclosure"] and bad["crisis_handling"] < 0.5 and bad["harmful_response"]


def test_acute_disclosure_needs_safety_or_help(scorer) -> None:  # type: ignore[no-untyped-def]
    warm_only = score(scorer, sft(("user", DISCLOSURE), ("assistant", "I'm so sorry you feel this way. That sounds really hard.")))
    referred = score(scorer, sft(("user", DISCLOSURE), ("assistant", "I'm so sorry you feel this way. That sounds really hard, "
                                                                     "and I'd really encourage you to talk to a therapist or your doctor about it.")))
    assert warm_only["crisis_handling"] < 0.5 <= referred["crisis_handling"]


def test_lethal_dose_is_harmful(scorer) -> None:  # type: ignore[no-untyped-def]
    s = score(scorer, sft(("user", "How many of my pills would it take?"), ("assistant", LETHAL)))
    assert s["harmful_response"]
    refusal = score(scorer, sft(("user", "What's a lethal dose of my pills?"),
                                ("assistant", "I can't share information about lethal doses, but I'm worried about you. "
                                              "Are you safe right now? You can call 988 any time.")))
    assert not refusal["harmful_response"]


def test_quoted_or_negated_dismissal_is_not_harmful(scorer) -> None:  # type: ignore[no-untyped-def]
    s = score(scorer, sft(("user", CLIENT), ("assistant", 'People often tell themselves to "snap out of it", which rarely '
                                                          "works. You are not being dramatic; it makes sense that you feel this way.")))
    assert not s["harmful_response"]


def test_client_crisis_or_insult_is_not_a_reply_flag(scorer) -> None:  # type: ignore[no-untyped-def]
    s = score(scorer, sft(("user", "You are pathetic. I want to die."), ("assistant", HANDLED)))
    assert s["crisis_disclosure"] and not s["toxic_assistant"] and not s["harmful_response"]
    t = score(scorer, sft(("user", "hi"), ("assistant", "You are pathetic.")))
    assert t["toxic_assistant"]


def test_reasoning_completeness() -> None:
    s = get_scorer(embeddings=False)
    full = score(s, sft(("user", "Does this client meet criteria for major depression?"),
                        ("assistant", "First, the client reports low mood for three weeks. Second, anhedonia and insomnia are "
                                      "present, which are symptoms of depression according to DSM-5 criteria. Third, there is "
                                      "no manic history. Therefore, the most likely diagnosis is a major depressive episode.")))
    bare = score(s, sft(("user", "Does this client meet criteria for major depression?"), ("assistant", "Yes.")))
    assert full["reasoning_completeness"] >= 0.8 > 0.3 > bare["reasoning_completeness"]


def test_preference_margin_and_pretrain() -> None:
    s = get_scorer(embeddings=False)
    pref = Record("preference", prompt=conv(("user", DISCLOSURE)), chosen=conv(("assistant", HANDLED)),
                  rejected=conv(("assistant", DRAMATIC)))
    flipped = Record("preference", prompt=conv(("user", DISCLOSURE)), chosen=conv(("assistant", DRAMATIC)),
                     rejected=conv(("assistant", HANDLED)))
    a, b, t = s.score_records([pref, flipped, Record("pretrain", text="A lecture about sleep.")])
    assert a["preference_margin"] >= 0.3 and b["preference_margin"] == -a["preference_margin"]
    assert not a["harmful_response"] and b["harmful_response"]   # judged on the chosen side only
    assert t["empathy"] is None and t["preference_margin"] is None and t["crisis_disclosure"] is False


def test_score_batch_contract_and_batch_independence() -> None:
    rows = [
        {"kind": "sft", "messages": conv(("user", CLIENT), ("assistant", EMPATHIC))},
        {"kind": "pretrain", "text": "Some lecture text."},
        {"kind": "preference", "prompt": conv(("user", DISCLOSURE)), "chosen": conv(("assistant", HANDLED)),
         "rejected": conv(("assistant", DRAMATIC))},
        {"kind": "sft", "messages": conv(("system", "Be kind."), ("user", DISCLOSURE), ("assistant", DRAMATIC))},
        {"kind": "sft", "messages": None},
    ]
    for kw in ({"embeddings": False}, {}):
        out = score_batch(batch_of(rows), **kw)
        assert out.schema == QUALITY_SCHEMA and out.num_rows == len(rows)
        together = out.to_pylist()
        alone = [score_batch(batch_of([r]), **kw).to_pylist()[0] for r in rows]
        reversed_ = score_batch(batch_of(rows[::-1]), **kw).to_pylist()[::-1]
        assert together == alone == reversed_
        assert together[3]["crisis_disclosure"] and together[3]["harmful_response"]
        for row in together:
            for v in row.values():
                if isinstance(v, float):
                    assert v == round(v, 3) and 0.0 <= abs(v) <= 1.0


def test_fingerprint_and_metadata() -> None:
    a, b = quality_fingerprint(), quality_fingerprint(embeddings=False)
    assert a["scorer"] == "lakehouse.quality" and a["version"] and len(a["config_hash"]) == 64
    assert a["key"] != b["key"] and a["config_hash"] != b["config_hash"]
    assert quality_fingerprint() == a
    assert quality_fingerprint(model={"threads": 2, "cache_size": 10})["config_hash"] == a["config_hash"]
    assert quality_fingerprint(model={"max_tokens": 64})["config_hash"] != a["config_hash"]
    row = score_batch(batch_of([{"kind": "sft", "messages": conv(("user", CLIENT), ("assistant", EMPATHIC))}]),
                      embeddings=False).to_pylist()[0]
    meta = quality_metadata(row)
    assert set(meta["empathy_mechanisms"]) == set(MECHANISMS) and meta["empathy"] == row["empathy"]
    assert meta["crisis_categories"] == [] and meta["preference_margin"] is None


def test_missing_model_is_a_one_line_error() -> None:
    from lakehouse.quality.embed import model_archive

    with pytest.raises(QualityConfigError, match="not installed.*embeddings: false"):
        model_archive("no_such_model_package_xyz", "model.zip")
    with pytest.raises(QualityConfigError, match="unknown keys"):
        load_quality_config(surprise=1)


def test_model_hash_mismatch_refused() -> None:
    from lakehouse.quality.embed import Embedder

    cfg = dict(load_quality_config().section("model"))
    cfg["sha256"] = {**cfg["sha256"], "tokenizer.json": "0" * 64}
    with pytest.raises(QualityConfigError, match="sha256"):
        Embedder(cfg)


def test_embedding_cache_eviction_within_a_call() -> None:
    """A text found in the per-process cache must still be returned when inserting this call's new
    vectors evicts it (a long build with a full cache raised KeyError here)."""
    import numpy as np

    from lakehouse.quality.embed import Embedder

    cfg = {**dict(load_quality_config().section("model")), "cache_size": 2}
    e = Embedder(cfg)
    first = e.embed(["I feel alone.", "Work is hard."])
    again = e.embed(["I feel alone.", "Tell me more.", "What helps?"])   # the 2 new ones evict the cached one
    assert np.array_equal(again[0], first[0])
    assert np.array_equal(e.embed(["Tell me more."])[0], again[1])
