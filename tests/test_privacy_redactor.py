"""Redactor end to end (spaCy + Presidio loaded once per session via get_redactor)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lakehouse.privacy import Finding, PrivacyConfigError, Redactor, get_redactor, load_privacy_config
from lakehouse.privacy.evaluation import (
    CRISIS_SENTENCES,
    generate_therapy_conversations,
    load_presidio_research,
    score,
    to_pred,
)

FIXTURE = Path(__file__).parent / "fixtures" / "pii" / "presidio_research_sample.jsonl"
PLACEHOLDER = re.compile(r"<[A-Z_]+_\d+>")


@pytest.fixture(scope="session")
def redactor() -> Redactor:
    return get_redactor()


def _conv(*texts: str) -> list[dict[str, str]]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(texts)]


def test_get_redactor_is_cached(redactor: Redactor) -> None:
    assert get_redactor() is redactor


def test_crisis_sentences_unchanged(redactor: Redactor) -> None:
    res = redactor.redact_texts(list(CRISIS_SENTENCES))
    assert [r.text for r in res] == list(CRISIS_SENTENCES)
    assert {r.pii_status for r in res} == {"clean"}
    mixed = [f"My therapist Dr. Sarah Mitchell said to call 555-201-3344. {s} Email me at sam@example.org."
             for s in CRISIS_SENTENCES]
    for s, r in zip(CRISIS_SENTENCES, redactor.redact_texts(mixed)):
        assert s in r.text and "Mitchell" not in r.text and "555-201-3344" not in r.text and "sam@" not in r.text


def test_consistent_placeholders_across_turns_with_partial_names(redactor: Redactor) -> None:
    conv = _conv(
        "My therapist Dr. Sarah Mitchell said I should call 555-201-3344 if it gets bad.",
        "It sounds like Sarah really cares about you.",
        "Mitchell is great. My ex Jake Turner keeps texting me at 555.201.3344 though.",
        "Have you told Dr. Mitchell about Jake?",
        "Sarah knows. Email me at sam.r@example.org, or sam.r@example.org.",
    )
    out = [m["content"] for m in redactor.redact_conversations([conv])[0].messages]
    assert out[0] == "My therapist Dr. <PERSON_1> said I should call <PHONE_1> if it gets bad."
    assert out[1] == "It sounds like <PERSON_1> really cares about you."
    assert out[2] == "<PERSON_1> is great. My ex <PERSON_2> keeps texting me at <PHONE_1> though."
    assert out[3] == "Have you told Dr. <PERSON_1> about <PERSON_2>?"
    assert out[4] == "<PERSON_1> knows. Email me at <EMAIL_1>, or <EMAIL_1>."


def test_scopes_are_independent(redactor: Redactor) -> None:
    res = redactor.redact_texts(["Anna Kowalski called me.", "Then Brian Oduya called me."])
    assert res[0].text == "<PERSON_1> called me." and res[1].text == "Then <PERSON_1> called me."
    convs = redactor.redact_conversations([_conv("I told Mallory everything."), _conv("I told Kimberly.")])
    assert [c.messages[0]["content"] for c in convs] == ["I told <PERSON_1> everything.", "I told <PERSON_1>."]


def test_messages_shape_preserved(redactor: Redactor) -> None:
    conv = [{"role": "system", "content": "You are kind.", "name": "sys"}, {"role": "user", "content": None},
            {"role": "user", "content": "I live at 123 Main Street in Springfield."}]
    res = redactor.redact_conversations([conv, None, []])
    assert res[0].messages[0] == conv[0] and res[0].messages[1] == conv[1]
    assert res[0].messages[2] == {"role": "user", "content": "I live at <ADDRESS_1> in <LOCATION_1>."}
    assert res[0].counts == {"LOCATION": 1, "STREET_ADDRESS": 1}
    assert conv[2]["content"].startswith("I live at 123")  # input not mutated
    assert res[1].messages is None and res[1].pii_status == "clean"
    assert res[2].messages == [] and res[2].pii_status == "clean"


def test_pii_status_end_to_end(redactor: Redactor) -> None:
    res = redactor.redact_conversations([
        _conv("I feel hopeless tonight."),
        _conv("My email is jo@example.com."),
        _conv("Please charge my credit card 4111 1111 1111 1111 for the copay."),
        _conv("The form wants 219-09-9999 on line 4."),
        _conv("My SSN is 219-09-9999."),
    ])
    assert [r.pii_status for r in res] == ["clean", "redacted", "requires_review", "requires_review", "redacted"]
    assert "4111" not in res[2].messages[0]["content"] and res[2].counts == {"CREDIT_CARD": 1}


def test_residual_scan_clean_after_redaction(redactor: Redactor) -> None:
    convs = generate_therapy_conversations(40, seed=21)
    res = redactor.redact_conversations([[{"role": r, "content": m.text} for r, m in c] for c in convs])
    texts = [m["content"] for r in res for m in r.messages]
    assert any(PLACEHOLDER.search(t) for t in texts)
    assert redactor.scan(texts) == [[] for _ in texts]
    originals = [m.text for c in convs for _, m in c]
    assert any(redactor.scan(originals))  # the scan does find PII before redaction


def test_scan_reports_offsets_only(redactor: Redactor) -> None:
    [found] = redactor.scan(["Call Dana Whitfield at 555-201-3344."])
    assert {f.entity_type for f in found} == {"PERSON", "PHONE_NUMBER"}
    assert all(isinstance(f, Finding) and set(vars(f) if hasattr(f, "__dict__") else f.__slots__) ==
               {"entity_type", "start", "end", "score"} for f in found)


def test_recall_targets_on_generated_set(redactor: Redactor) -> None:
    convs = generate_therapy_conversations(60, seed=13)
    items = [m for c in convs for _, m in c]
    det = redactor.detect_conversations([[m.text for _, m in c] for c in convs])
    tallies = score(items, [to_pred(fs) for c in det for fs in c])
    assert tallies["ALL"].recall >= 0.93
    for label in ("PERSON", "PHONE", "EMAIL", "ADDRESS", "SSN"):
        assert tallies[label].recall >= 0.95, (label, tallies[label].recall)
    assert tallies["ALL"].precision >= 0.9
    res = redactor.redact_conversations([[{"role": r, "content": m.text} for r, m in c] for c in convs])
    for c, r in zip(convs, res):
        for (_, m), out in zip(c, r.messages):
            assert all(s in out["content"] for s in m.keep)


def test_presidio_research_fixture_smoke(redactor: Redactor) -> None:
    items = load_presidio_research(FIXTURE)[:150]
    tallies = score(items, [to_pred(fs) for fs in redactor.detect_texts([it.text for it in items])])
    assert tallies["EMAIL"].recall == 1.0
    assert tallies["PERSON"].recall >= 0.6 and tallies["ALL"].precision >= 0.9


def test_cache_second_call_does_no_analysis(redactor: Redactor, monkeypatch: pytest.MonkeyPatch) -> None:
    conv = [_conv("Unique cache probe: Dr. Ingrid Halvorsen, 555-777-0142.", "Ingrid says hi.", "Ingrid says hi.")]
    first = redactor.redact_conversations(conv)
    calls = {"n": 0}
    real = redactor.analyzer.analyze

    def counting(*a, **k):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        return real(*a, **k)

    monkeypatch.setattr(redactor.analyzer, "analyze", counting)
    before = dict(redactor.stats)
    second = redactor.redact_conversations(conv)
    assert second == first
    assert calls["n"] == 0 and redactor.stats["analyzed"] == before["analyzed"]
    assert redactor.stats["cache_hits"] > before["cache_hits"]


def test_duplicate_messages_analysed_once() -> None:
    r = Redactor(load_privacy_config())
    r._analyzer = get_redactor().engine  # share the loaded engine, fresh cache
    r._stop_words = get_redactor().stop_words
    r.redact_texts(["Same text, Dr. Ola Berg."] * 5 + ["Other text."])
    assert r.stats["analyzed"] == 2 + 1  # 2 distinct originals + 1 changed text re-scanned


def test_applying_cached_spans_loads_no_model() -> None:
    """A rebuild seeds every analysis from cache/pii_spans: placeholders and name propagation then
    run without spaCy's NER or Presidio (the engine stays unbuilt), with the same output."""
    texts = ["Dr. Ola Berg said I should rest.", "Ola thinks it will pass."]
    loaded = get_redactor()
    want = loaded.redact_conversations([[{"role": "user", "content": t} for t in texts]])
    r = Redactor(load_privacy_config())
    r.seed_cache(dict(loaded.cache_items()))
    got = r.redact_conversations([[{"role": "user", "content": t} for t in texts]])
    assert got == want and "<PERSON_1>" in got[0].messages[1]["content"]   # propagated to "Ola"
    assert r._analyzer is None and r.stats["analyzed"] == 0
    assert r.stop_words == loaded.engine.stop_words   # the language's list is the model's list
    assert r.stop_words == frozenset(w.lower() for w in loaded.engine.nlp.Defaults.stop_words)
    import subprocess
    import sys

    probe = ("import sys; from lakehouse.privacy.redactor import language_stop_words as f; "
             "w = f('en'); print(len(w), 'spacy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(len(r.stop_words)), "False"]   # read without importing spaCy (thinc, torch)


def test_long_text_chunks_keep_offsets() -> None:
    r = Redactor(load_privacy_config(chunk_chars=400))
    r._analyzer = get_redactor().engine
    r._stop_words = get_redactor().stop_words
    filler = "I went for a walk and felt a little better afterwards. " * 12
    text = f"Dr. Helena Vasquez called. {filler}Email helena.v@example.org. {filler}Helena said to call 555-303-8812."
    out = r.redact_texts([text])[0].text
    assert "Helena" not in out and "helena.v@" not in out and "555-303-8812" not in out
    assert out.count("<PERSON_1>") == 2 and "<EMAIL_1>" in out and "<PHONE_1>" in out
    assert filler in out


def test_missing_model_fails_without_download() -> None:
    r = Redactor(load_privacy_config(model="en_core_web_doesnotexist"))
    with pytest.raises(PrivacyConfigError, match="not installed"):
        r.redact_texts(["hello"])


def test_duckdb_arrow_udf(redactor: Redactor) -> None:
    """The pipeline's registered UDFs (lakehouse.udf: lh_redact, lh_pii_residual) in plain DuckDB."""
    import duckdb

    from lakehouse.udf import register_all

    con = duckdb.connect()
    register_all(con)
    rows = con.execute("""
        SELECT r.messages, r.pii_status, r.redactions FROM (SELECT lh_redact('sft', m, null, null, null, null) AS r FROM (VALUES
          ([{'role': 'user', 'content': 'I am Sarah Mitchell, call 555-201-3344'}, {'role': 'assistant', 'content': 'Hi Sarah'}]),
          ([{'role': 'user', 'content': 'I want to kill myself'}])) v(m))""").fetchall()
    assert rows[0] == ([{"role": "user", "content": "I am <PERSON_1>, call <PHONE_1>"},
                        {"role": "assistant", "content": "Hi <PERSON_1>"}], "redacted", '{"PERSON":2,"PHONE_NUMBER":1}')
    assert rows[1] == ([{"role": "user", "content": "I want to kill myself"}], "clean", "{}")
    [(text, residual)] = con.execute("""
        SELECT r.text, lh_pii_residual('pretrain', null, null, null, null, r.text)
        FROM (SELECT lh_redact('pretrain', null, null, null, null, 'Dr. Jo Park lives at 12 Elm Street') AS r)""").fetchall()
    assert text == "Dr. <PERSON_1> lives at <ADDRESS_1>" and residual == 0


def test_no_text_in_logs(redactor: Redactor, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    redactor.redact_texts(["Zebulon Quastorff phoned from 555-414-9090 about his phone number."])
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "Quastorff" not in logged and "414-9090" not in logged and "phone" not in logged.lower()


def test_parallel_workers_give_the_serial_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """LAKEHOUSE_PII_WORKERS fans uncached analysis out to spawned processes; output is identical."""
    from lakehouse.privacy.redactor import PARALLEL_MIN_TEXTS, pii_workers

    texts = [f"Session {i}: my counsellor Dr. Ann Novak ({i}) said to call 555-201-{1000 + i} if I feel unsafe tonight."
             for i in range(PARALLEL_MIN_TEXTS + 20)]
    monkeypatch.setenv("LAKEHOUSE_PII_WORKERS", "0")
    serial = Redactor(load_privacy_config()).redact_texts(texts)
    monkeypatch.setenv("LAKEHOUSE_PII_WORKERS", "2")
    assert pii_workers() == 2
    par = Redactor(load_privacy_config())
    parallel = par.redact_texts(texts)
    assert [r.text for r in parallel] == [r.text for r in serial]
    assert [r.counts for r in parallel] == [r.counts for r in serial]
    assert par.stats["analyzed"] >= len(texts) and par._executor is not None
    par._executor.shutdown(wait=True)
    monkeypatch.setenv("LAKEHOUSE_PII_WORKERS", "many")
    with pytest.raises(PrivacyConfigError, match="LAKEHOUSE_PII_WORKERS"):
        pii_workers()
