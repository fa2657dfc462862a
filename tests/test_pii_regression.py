"""Regression set of the identifier forms the redactor used to miss, written for this project in
the style of those misses (not copied from any benchmark), plus what must never be touched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lakehouse.privacy import Redactor, get_redactor
from lakehouse.privacy.evaluation import CRISIS_SENTENCES

ROWS = [json.loads(line) for line in
        (Path(__file__).parent / "fixtures" / "pii" / "regression_missed_forms.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()]

KEEP = [
    "Hope is all I have left some days.",
    "Will you still be here tomorrow?",
    "Honestly Work has been brutal since the layoffs.",
    "Listen, I know it sounds silly.",
    "I take 50 mg of Sertraline twice a day and 900 mg Lithium at night.",
    "I was on Lexapro for 6 months, then Wellbutrin 150 mg.",
    "I have been clean for 90 days and my DBT group meets on Tuesdays.",
    "I hold on to Faith and Hope when it gets dark.",
]


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return get_redactor()


@pytest.mark.parametrize("row", ROWS, ids=[r["text"][:40] for r in ROWS])
def test_missed_forms_are_redacted(redactor: Redactor, row: dict) -> None:
    out = redactor.redact_texts([row["text"]])[0]
    assert out.pii_status != "clean"
    leaked = [p for p in row["pii"] if p in out.text]
    assert not leaked, f"left in the output: {leaked}"


def test_ordinary_words_clinical_words_and_crisis_sentences_kept(redactor: Redactor) -> None:
    texts = KEEP + list(CRISIS_SENTENCES)
    for text, res in zip(texts, redactor.redact_texts(texts)):
        assert res.text == text and res.pii_status == "clean"


def test_crisis_sentences_unchanged_beside_new_recognizer_hits(redactor: Redactor) -> None:
    texts = [f"My new address is 4417 Haukilahdenkatu 12, Lappeenranta. {s} Okonkwo and Feldmanova know."
             for s in CRISIS_SENTENCES]
    for s, res in zip(CRISIS_SENTENCES, redactor.redact_texts(texts)):
        assert s in res.text and "Haukilahdenkatu" not in res.text and "Okonkwo" not in res.text


def test_placeholders_consistent_per_conversation(redactor: Redactor) -> None:
    conv = [
        {"role": "user", "content": "Svetlozar Petrov moved to Gdansk and now lives at 19 Kongensgade 7, Odense."},
        {"role": "assistant", "content": "How do you feel about Svetlozar being so far away?"},
        {"role": "user", "content": "Petrov never calls. Gdansk feels like another planet."},
    ]
    other = [{"role": "user", "content": "Ingeborga Haldorsen is my sister and she is in Gdansk too."}]
    res = redactor.redact_conversations([conv, other])
    a = [m["content"] for m in res[0].messages]
    assert a[0].startswith("<PERSON_1> moved to <LOCATION_1> and now lives at <ADDRESS_1>")
    assert a[1] == "How do you feel about <PERSON_1> being so far away?"
    assert a[2] == "<PERSON_1> never calls. <LOCATION_1> feels like another planet."
    b = res[1].messages[0]["content"]
    assert b.startswith("<PERSON_1> is my sister") and "<LOCATION_1>" in b  # numbering restarts per conversation


def test_findings_do_not_depend_on_batch(redactor: Redactor) -> None:
    texts = [r["text"] for r in ROWS]
    fresh = Redactor(redactor.config)
    fresh._analyzer = redactor.engine  # same engine, empty cache
    alone = [fresh.analyze([t])[0] for t in texts]
    fresh.clear_cache()
    assert fresh.analyze(list(reversed(texts))) == list(reversed(alone))
