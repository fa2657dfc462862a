"""Safety lexicon flags, quarantine policy and edge-case bypass."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse.safety import (
    CompositeSafetyChecker,
    LexiconSafetyChecker,
    SafetyChecker,
    SafetyConfigError,
    SafetyFlags,
    SafetyPolicy,
    check_conversations,
    get_safety_checker,
    load_safety_config,
    safety_decision,
)


@pytest.fixture(scope="module")
def cfg():  # type: ignore[no-untyped-def]
    return load_safety_config()


@pytest.fixture(scope="module")
def checker(cfg) -> LexiconSafetyChecker:  # type: ignore[no-untyped-def]
    return LexiconSafetyChecker(cfg)


@pytest.mark.parametrize("text,category", [
    ("I want to kill myself", "suicide"),
    ("I took 30 pills two weeks ago", "overdose"),
    ("I can't stop thinking about killing myself", "suicide"),
    ("the voices tell me to hurt people", "psychosis"),
    ("I wrote goodbye letters to my kids last night.", "suicide"),
    ("I took a handful of painkillers an hour ago", "overdose"),
    ("My husband pushed me down the stairs", "abuse"),
    ("I burned my hand on purpose", "self_harm"),
    ("I keep imagining hurting my boss", "violence"),
    ("i dont want to live anymore", "suicide"),
    ("I hope I don\u2019t wake up tomorrow", "suicide"),
    ("yesterday I cut myself", "self_harm"),
    ("I've been SELF-HARMING again", "self_harm"),
    ("I'm going to kill him when he gets home", "violence"),
    ("My stepdad hits me when he drinks", "abuse"),
])
def test_crisis_categories(checker: LexiconSafetyChecker, text: str, category: str) -> None:
    [f] = checker.check([text])
    assert f.crisis and not f.toxicity and category in f.categories


@pytest.mark.parametrize("text,category", [
    ("you are so pathetic", "harassment"),
    ("just kys", "self_harm_encouragement"),
    ("Go kill yourself", "self_harm_encouragement"),
    ("I know where you live", "threat"),
    ("what an exampleslur-alpha", "slurs"),
])
def test_toxicity_categories(checker: LexiconSafetyChecker, text: str, category: str) -> None:
    [f] = checker.check([text])
    assert f.toxicity and category in f.categories


@pytest.mark.parametrize("text", [
    "tonight I feel hopeless", "I like cutting vegetables", "I could not wake up this morning",
    "My therapist helped me a lot", "Skills for when things feel overwhelming", "",
])
def test_benign_texts_not_flagged(checker: LexiconSafetyChecker, text: str) -> None:
    assert checker.check([text]) == [SafetyFlags()]


def test_policy_crisis_never_quarantines_toxicity_does(cfg) -> None:  # type: ignore[no-untyped-def]
    crisis = SafetyFlags(crisis=True, categories=["suicide"])
    toxic = SafetyFlags(toxicity=True, categories=["harassment"])
    both = SafetyFlags(crisis=True, toxicity=True, categories=["harassment", "suicide"])
    assert cfg.policy.quarantine_kinds == ("toxicity",) and cfg.policy.toxicity_roles == ("assistant",)
    assert safety_decision(crisis, is_edge_case=False, policy=cfg.policy) is None
    assert safety_decision(toxic, is_edge_case=False, policy=cfg) == "safety:toxicity"
    assert safety_decision(both, is_edge_case=False, policy=cfg.policy) == "safety:toxicity"
    assert safety_decision(SafetyFlags(), is_edge_case=False, policy=cfg.policy) is None
    for f in (crisis, toxic, both):
        assert safety_decision(f, is_edge_case=True, policy=cfg.policy) is None
    strict = SafetyPolicy(quarantine_kinds=("toxicity", "crisis"))
    assert safety_decision(crisis, is_edge_case=False, policy=strict) == "safety:crisis"


@pytest.mark.parametrize("text", [
    "I've never tried or contemplated suicide.", "I'm not suicidal, just exhausted.",
    "I have no thoughts of killing myself.",
])
def test_negated_crisis_phrases_are_not_disclosures(checker: LexiconSafetyChecker, text: str) -> None:
    assert not checker.check([text])[0].crisis


def test_check_conversations_roles(checker: LexiconSafetyChecker, cfg) -> None:  # type: ignore[no-untyped-def]
    convs = [
        [{"role": "user", "content": "I failed my exam."},
         {"role": "assistant", "content": "If you ever have thoughts of suicide, call or text 988."}],
        [{"role": "user", "content": "I want to die."}, {"role": "assistant", "content": "I'm here with you."}],
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "You are pathetic."}],
        None,
        [{"role": "user", "content": "You are pathetic, you're useless as a therapist."},
         {"role": "assistant", "content": "It sounds like you're really frustrated with me."}],
    ]
    flags = check_conversations(convs, checker, cfg)
    assert flags[0] == SafetyFlags()  # a counsellor naming suicide is not a crisis
    assert flags[1] == SafetyFlags(crisis=True, categories=["suicide"])
    assert flags[2] == SafetyFlags(toxicity=True, categories=["harassment"])
    assert flags[3] == SafetyFlags()
    assert flags[4] == SafetyFlags()  # a client insulting the therapist is never a safety flag


class ShoutingChecker:
    """A stand-in 'model': flags all-caps texts as toxic."""

    def check(self, texts: list[str]) -> list[SafetyFlags]:
        return [SafetyFlags(toxicity=t.isupper(), categories=["shouting"] if t.isupper() else []) for t in texts]


def test_plug_in_model_checker(tmp_path: Path, cfg) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(ShoutingChecker(), SafetyChecker)
    both = CompositeSafetyChecker([LexiconSafetyChecker(cfg), ShoutingChecker()])
    assert both.check(["I WANT TO DIE", "fine"]) == [
        SafetyFlags(crisis=True, toxicity=True, categories=["shouting", "suicide"]), SafetyFlags()]
    yml = tmp_path / "safety.yml"
    yml.write_text(Path(__file__).resolve().parents[1].joinpath("lakehouse/config/safety.yml").read_text()
                   .replace("checkers: [lexicon]", f"checkers: [lexicon, '{__name__}:ShoutingChecker']"))
    checker = get_safety_checker(load_safety_config(str(yml)))
    assert checker.check(["HELLO"])[0].categories == ["shouting"]


def test_extra_lexicon_via_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cfg) -> None:  # type: ignore[no-untyped-def]
    extra = tmp_path / "private.yml"
    extra.write_text("categories:\n  slurs: {kind: toxicity, phrases: [zorblax]}\n"
                     "  gambling: {kind: crisis, patterns: ['\\blost (?:all|everything) (?:at|on) (?:the )?casino']}\n")
    monkeypatch.setenv("LAKEHOUSE_SAFETY_LEXICONS", str(extra))
    merged = load_safety_config()
    assert merged.config_hash != cfg.config_hash
    ch = LexiconSafetyChecker(merged)
    assert ch.check(["you zorblax"])[0].categories == ["slurs"]
    assert ch.check(["what an exampleslur-beta"])[0].categories == ["slurs"]  # packaged entries kept
    assert ch.check(["I lost everything at the casino"])[0].crisis


def test_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("categories:\n  x: {kind: spicy, phrases: [a]}\n")
    with pytest.raises(SafetyConfigError):
        load_safety_config(str(bad))
    bad.write_text("categories: {}\nsurprise: 1\n")
    with pytest.raises(SafetyConfigError):
        load_safety_config(str(bad))


def test_historical_disclosure_is_not_current(checker: LexiconSafetyChecker) -> None:
    past = "I have self-harmed in the past and used to be suicidal. How do I tell my parents?"
    assert checker.check([past])[0].crisis
    assert checker.current_categories(past) == []
    assert checker.current_categories("I used to be fine. Now I want to kill myself.") == ["suicide"]
