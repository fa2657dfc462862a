"""Pure parts of lakehouse.privacy: no spaCy/Presidio needed."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from lakehouse.privacy import PrivacyConfigError, load_privacy_config, pii_status
from lakehouse.privacy.findings import (
    Finding,
    PlaceholderScope,
    apply_placeholders,
    is_allowed,
    name_tokens,
    propagate,
    resolve_overlaps,
)
from lakehouse.privacy import patterns
from lakehouse.privacy.redactor import split_chunks

TAGS = {"PERSON": "PERSON", "EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE", "LOCATION": "LOCATION"}


def test_import_is_light() -> None:
    code = "import sys, lakehouse.privacy, lakehouse.safety; assert 'spacy' not in sys.modules and 'presidio_analyzer' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_config_hash_stable_and_sensitive() -> None:
    a, b = load_privacy_config(), load_privacy_config()
    assert a.config_hash == b.config_hash and len(a.config_hash) == 64
    assert load_privacy_config(score_threshold=0.5).config_hash != a.config_hash
    assert load_privacy_config(model="en_core_web_lg").config_hash != a.config_hash


def test_config_rejects_unknown_keys() -> None:
    with pytest.raises(PrivacyConfigError):
        load_privacy_config(no_such_key=1)


def test_resolve_overlaps_union_longest_wins() -> None:
    fs = [Finding("EMAIL_ADDRESS", 10, 27, 1.0), Finding("URL", 16, 27, 0.5), Finding("PERSON", 0, 5, 0.85)]
    assert resolve_overlaps(fs) == [Finding("PERSON", 0, 5, 0.85), Finding("EMAIL_ADDRESS", 10, 27, 1.0)]


def test_person_scope_token_containment() -> None:
    scope = PlaceholderScope(TAGS)
    assert scope.placeholder("PERSON", "Dr. Sarah Mitchell") == "<PERSON_1>"
    assert scope.placeholder("PERSON", "Sarah") == "<PERSON_1>"
    assert scope.placeholder("PERSON", "Mitchell's") == "<PERSON_1>"
    assert scope.placeholder("PERSON", "John Smith") == "<PERSON_2>"
    assert scope.placeholder("PERSON", "John") == "<PERSON_2>"
    assert scope.placeholder("PHONE_NUMBER", "(555) 201-3344") == "<PHONE_1>"
    assert scope.placeholder("PHONE_NUMBER", "+1 555.201.3344") == "<PHONE_1>"
    assert scope.placeholder("EMAIL_ADDRESS", "A@x.org") == scope.placeholder("EMAIL_ADDRESS", "a@X.org") == "<EMAIL_1>"


def test_name_tokens_drop_honorifics() -> None:
    assert name_tokens("Dr. Sarah Mitchell") == {"sarah", "mitchell"}
    assert name_tokens("Mrs. O'Neil") == {"o'neil"}


def test_apply_placeholders_left_to_right() -> None:
    text = "Sarah Lee called Tom. Sarah was upset."
    fs = [Finding("PERSON", 17, 20, 0.85), Finding("PERSON", 0, 9, 0.85), Finding("PERSON", 22, 27, 0.85)]
    assert apply_placeholders(text, fs, PlaceholderScope(TAGS)) == "<PERSON_1> called <PERSON_2>. <PERSON_1> was upset."


def test_propagate_names_across_turns() -> None:
    texts = ["My therapist Dr. Sarah Mitchell is kind.", "Sarah said Hope is possible.", "sarah? Mitchell!"]
    fs = [[Finding("PERSON", 17, 31, 0.85)], [], []]
    out = propagate(texts, fs, entity_types=frozenset({"PERSON"}), min_token_chars=3,
                    stop_words=frozenset({"will"}), allow_terms=frozenset())
    assert [(f.start, f.end) for f in out[1]] == [(0, 5)]
    assert [(f.start, f.end) for f in out[2]] == [(7, 15)]  # case-sensitive: "sarah" lowercase is left


def test_is_allowed() -> None:
    allow, filler = frozenset({"ambien", "zoloft"}), frozenset({"dr", "mom"})
    res = [re.compile(r"988|1-800-273-8255", re.I)]
    assert is_allowed("10 Ambien", "PERSON", allow, filler, res)
    assert is_allowed("Zoloft 2 weeks ago", "LOCATION", allow, filler, res)
    assert is_allowed("Dr.", "PERSON", allow, filler, res)
    assert not is_allowed("Dr. Mitchell", "PERSON", allow, filler, res)
    assert is_allowed("1-800-273-8255", "PHONE_NUMBER", allow, filler, res)
    assert not is_allowed("555-201-3344", "PHONE_NUMBER", allow, filler, res)


def test_pii_status_policy_rules() -> None:
    cfg = load_privacy_config()
    assert pii_status([], cfg) == "clean"
    assert pii_status([Finding("PERSON", 0, 4, 0.85)], cfg) == "redacted"
    assert pii_status([Finding("US_SSN", 0, 11, 0.85)], cfg) == "redacted"  # SSN with context: sure
    assert pii_status([Finding("US_SSN", 0, 11, 0.5)], cfg) == "requires_review"  # SSN-shaped, no context
    assert pii_status([Finding("PERSON", 0, 4, 0.85), Finding("CREDIT_CARD", 5, 24, 1.0)], cfg) == "requires_review"


@pytest.mark.parametrize("text,expected", [
    ("born March 3rd, 2021 ok", "March 3rd, 2021"), ("on 3 March 2021.", "3 March 2021"), ("since Jan 5", "Jan 5"),
    ("I may 2 times", None), ("in March", None),
])
def test_month_date_regex(text: str, expected: str | None) -> None:
    rx = [re.compile(r) for r in patterns.month_date_regexes()]
    hits = [m.group(0) for r in rx for m in r.finditer(text)]
    assert (max(hits, key=len) if hits else None) == expected


@pytest.mark.parametrize("text,expected", [
    ("I live at 123 Main Street in Springfield", "123 Main Street"),
    ("45 Oak Ave, Springfield is home", "45 Oak Ave, Springfield"),
    ("241 Kevin Lane Suite 824\nMorganview, TN 47086", "241 Kevin Lane Suite 824\nMorganview, TN 47086"),
    ("I go for a 30 minute walk", None), ("I took 30 pills two weeks ago", None),
])
def test_street_address_regex(text: str, expected: str | None) -> None:
    cfg = load_privacy_config()
    m = re.search(patterns.street_address_regex(cfg.street_suffixes), text) or re.search(
        patterns.lowercase_address_regex(cfg.lowercase_suffixes), text)
    assert (m.group(0) if m else None) == expected


def test_split_chunks_covers_text() -> None:
    text = ("word " * 50 + "\n") * 20
    chunks = split_chunks(text, 300)
    assert "".join(c for _, c in chunks) == text
    assert all(text[o:o + len(c)] == c and len(c) <= 300 for o, c in chunks)


@pytest.mark.parametrize("text,span,ok", [
    ("see www.EMDRheals.com now", (4, 21), True), ("feel dissipating.People say", (5, 19), False),
    ("at friendships...it may", (3, 19), False), ("go to example.org.", (6, 17), True),
    ("read https://x.org/a/b", (5, 22), True),
])
def test_plausible_url(text: str, span: tuple[int, int], ok: bool) -> None:
    from lakehouse.privacy.findings import plausible_url

    assert plausible_url(text, *span) is ok
