"""Presidio/spaCy glue. Imports the heavy libraries at module level, so this module is only
imported lazily (by Redactor on first use and by the bench), never by ``lakehouse.privacy``."""

from __future__ import annotations

import os

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")  # tldextract must not download

import logging
import re
from pathlib import Path
from typing import Any, Iterator, Sequence

import spacy
from presidio_analyzer import AnalysisExplanation, AnalyzerEngine, LocalRecognizer, RecognizerRegistry, RecognizerResult
from presidio_analyzer import predefined_recognizers as predefined
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine

from . import patterns
from .config import PrivacyConfig, PrivacyConfigError

_DIGIT = re.compile(r"\d")
# Recognizers whose every pattern needs a digit: skipped on digit-free text (most chat turns).
_DIGIT_GATED = {
    "CreditCardRecognizer", "DateRecognizer", "IbanRecognizer", "IpRecognizer", "MedicalLicenseRecognizer",
    "PhoneRecognizer", "UsBankRecognizer", "UsItinRecognizer", "UsLicenseRecognizer", "UsPassportRecognizer",
    "UsSsnRecognizer", "CryptoRecognizer",
}
PHONE_CONTEXT = ["phone", "number", "telephone", "cell", "cellphone", "mobile", "call", "text", "reach", "fax", "contact"]


def require_model(model: str) -> None:
    """Fail clearly (never download) when the configured spaCy model is missing."""
    if not (spacy.util.is_package(model) or Path(model).exists()):
        raise PrivacyConfigError(
            f"spaCy model {model!r} is not installed (nothing is downloaded at run time): "
            "pip install it, or set `model:` in privacy.yml to an installed package or a model folder"
        )


def ner_pipes(nlp: "spacy.language.Language") -> list[str]:
    """Pipes the NER needs: entity rulers, ner, and any tok2vec/transformer ner listens to."""
    keep = [n for n in nlp.pipe_names if n == "ner" or n.endswith("entity_ruler") or n == "span_ruler"]
    for name, pipe in nlp.pipeline:
        listening = getattr(pipe, "listening_components", None) or []
        if "ner" in listening:
            keep.append(name)
    return [n for n in nlp.pipe_names if n in keep]


class LeanSpacyNlpEngine(SpacyNlpEngine):
    """spaCy engine running only what NER needs (no parser/tagger/lemmatizer), never downloading.

    Lemmas fall back to the lowercased token, which is what Presidio's context words
    (substring match: "phone", "ssn", "address") are compared with.
    """

    def __init__(self, model: str, language: str, labels: dict[str, str], score: float):
        super().__init__(models=[{"lang_code": language, "model_name": model}])
        self._labels = dict(labels)
        self._score = score

    def load(self) -> None:  # noqa: D102
        model = self.models[0]["model_name"]
        require_model(model)
        nlp = spacy.load(model)
        nlp.select_pipes(enable=ner_pipes(nlp))
        self.nlp = {self.models[0]["lang_code"]: nlp}

    def get_supported_entities(self) -> list[str]:  # noqa: D102
        return sorted(set(self._labels.values()))

    def _doc_to_nlp_artifact(self, doc: Any, language: str) -> NlpArtifacts:
        ents = [e for e in doc.ents if e.label_ in self._labels]
        for e in ents:
            e.label_ = self._labels[e.label_]
        return NlpArtifacts(
            entities=ents,
            tokens=doc,
            tokens_indices=[t.idx for t in doc],
            lemmas=[t.lemma_ or t.lower_ for t in doc],
            nlp_engine=self,
            language=language,
            scores=[self._score] * len(ents),
        )


class RegexRecognizer(LocalRecognizer):
    """Regexes -> one entity; the ``pii`` group (if any) is the span. Optional digit gate."""

    def __init__(self, name: str, entity: str, regexes: Sequence[tuple[str, float]], context: list[str] | None = None,
                 language: str = "en", needs_digit: bool = False, min_digits: int = 0):
        self._regexes = [(re.compile(rx), score) for rx, score in regexes]
        self._needs_digit = needs_digit or min_digits > 0
        self._min_digits = min_digits
        super().__init__(supported_entities=[entity], supported_language=language, context=context, name=name)

    def load(self) -> None:  # noqa: D102
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list[RecognizerResult]:  # noqa: D102
        if self._needs_digit and not _DIGIT.search(text):
            return []
        entity = self.supported_entities[0]
        out: list[RecognizerResult] = []
        for rx, score in self._regexes:
            for m in rx.finditer(text):
                s, e = m.span("pii") if "pii" in rx.groupindex else m.span()
                if e <= s or (self._min_digits and sum(ch.isdigit() for ch in text[s:e]) < self._min_digits):
                    continue
                expl = AnalysisExplanation(recognizer=self.name, original_score=score, pattern_name=self.name,
                                           pattern=rx.pattern[:40], validation_result=None)
                out.append(RecognizerResult(entity, s, e, score, analysis_explanation=expl,
                                            recognition_metadata={RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                                                                  RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id}))
        return out


def _digit_gated(cls: type, min_digits: int = 1) -> type:
    def analyze(self, text, entities, nlp_artifacts=None):  # type: ignore[no-untyped-def]
        if not _DIGIT.search(text) or (min_digits > 1 and sum(c.isdigit() for c in text) < min_digits):
            return []
        return cls.analyze(self, text, entities, nlp_artifacts)

    return type(cls.__name__, (cls,), {"analyze": analyze})


def predefined_recognizer(name: str, config: PrivacyConfig) -> Any:
    """Instantiate a Presidio predefined recognizer by class name (digit-gated where safe)."""
    cls = getattr(predefined, name, None)
    if cls is None:
        raise PrivacyConfigError(f"recognizers: no Presidio recognizer named {name!r}")
    if name in _DIGIT_GATED:
        cls = _digit_gated(cls, 7 if name == "PhoneRecognizer" else 1)
    if name == "PhoneRecognizer":
        return cls(supported_regions=config.phone_regions, supported_language=config.language, context=PHONE_CONTEXT)
    return cls(supported_language=config.language)


def custom_recognizers(config: PrivacyConfig) -> list[LocalRecognizer]:
    """The project's recognizers enabled in privacy.yml."""
    lang = config.language
    out: list[LocalRecognizer] = []
    c = config.custom("month_date")
    if c.get("enabled"):
        out.append(RegexRecognizer("MonthDateRecognizer", "DATE_TIME",
                                   [(rx, float(c["score"])) for rx in patterns.month_date_regexes()],
                                   context=["born", "birthday", "birth", "dob", "date"], language=lang, needs_digit=True))
    c = config.custom("street_address")
    if c.get("enabled"):
        out.append(RegexRecognizer(
            "StreetAddressRecognizer", "STREET_ADDRESS",
            [(patterns.street_address_regex(config.street_suffixes), float(c["score"])),
             (patterns.po_box_regex(), float(c["score"])),
             (patterns.european_street_regex(), float(c["score"])),
             (patterns.uk_postcode_regex(), float(c.get("lowercase_score", c["score"]))),
             (patterns.unit_regex(), float(c.get("lowercase_score", c["score"]))),
             (patterns.lowercase_address_regex(config.lowercase_suffixes), float(c.get("lowercase_score", c["score"])))],
            context=["address", "live", "lives", "living", "street", "moved", "home", "house", "apartment", "apt"],
            language=lang, needs_digit=True))
    c = config.custom("nanp_phone")
    if c.get("enabled"):
        out.append(RegexRecognizer(
            "NanpPhoneRecognizer", "PHONE_NUMBER",
            [(patterns.nanp_phone_regex(), float(c["score"])), (patterns.bare_phone_regex(), float(c["bare_digits_score"])),
             (patterns.bare_phone_cue_regex(), float(c["score"]))],
            context=PHONE_CONTEXT, language=lang, needs_digit=True))
    c = config.custom("titled_person")
    if c.get("enabled"):
        out.append(RegexRecognizer("TitledPersonRecognizer", "PERSON", [(patterns.titled_person_regex(), float(c["score"]))],
                                   language=lang))
    c = config.custom("relation_person")
    if c.get("enabled"):
        out.append(RegexRecognizer("RelationPersonRecognizer", "PERSON",
                                   [(patterns.relation_person_regex(config.relation_words), float(c["score"]))], language=lang))
    c = config.custom("long_number")
    if c.get("enabled"):
        out.append(RegexRecognizer("LongNumberRecognizer", "ID_NUMBER", [(patterns.long_number_regex(), float(c["score"]))],
                                   context=["account", "card", "member", "policy", "acct", "identification", "reference"],
                                   language=lang, min_digits=int(c.get("min_digits", 8))))
    c = config.custom("cue_person")
    if c.get("enabled"):
        out.append(RegexRecognizer("CuePersonRecognizer", "PERSON",
                                   [(rx, float(c["score"])) for rx in patterns.cue_person_regexes()], language=lang))
    c = config.custom("location_cue")
    if c.get("enabled"):
        out.append(RegexRecognizer("LocationCueRecognizer", "LOCATION", [(patterns.location_cue_regex(), float(c["score"]))],
                                   language=lang))
    return out


def quiet_presidio_logs() -> None:
    """Presidio's DEBUG/INFO records can quote words of the analysed text (context words):
    cap its logger at WARNING unless the application configured it explicitly."""
    log = logging.getLogger("presidio-analyzer")
    if log.level == logging.NOTSET:
        log.setLevel(logging.WARNING)


def build_analyzer(config: PrivacyConfig) -> AnalyzerEngine:
    """Presidio AnalyzerEngine tuned per privacy.yml (explicit NLP engine: nothing is downloaded)."""
    quiet_presidio_logs()
    nlp_engine = LeanSpacyNlpEngine(config.model, config.language, dict(config.ner_labels), config.ner_score)
    nlp_engine.load()
    registry = RecognizerRegistry(supported_languages=[config.language])
    registry.add_recognizer(predefined.SpacyRecognizer(
        supported_language=config.language, supported_entities=nlp_engine.get_supported_entities(),
        ner_strength=config.ner_score))
    for name in config.recognizers:
        registry.add_recognizer(predefined_recognizer(name, config))
    for rec in custom_recognizers(config):
        registry.add_recognizer(rec)
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=[config.language],
                          default_score_threshold=config.score_threshold)


def build_vanilla_analyzer(model: str, language: str = "en") -> AnalyzerEngine:
    """Presidio with its defaults (recognizers, NER mapping, threshold 0) on the given spaCy model."""
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    require_model(model)
    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": language, "model_name": model}]})
    return AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=[language])


def iter_artifacts(analyzer: AnalyzerEngine, texts: Sequence[str], language: str, batch_size: int) -> Iterator[NlpArtifacts]:
    """NlpArtifacts for texts, in order, through nlp.pipe."""
    for _text, art in analyzer.nlp_engine.process_batch(list(texts), language, batch_size=batch_size):
        yield art


def model_name_version(analyzer: AnalyzerEngine, language: str) -> tuple[str, str]:
    meta = analyzer.nlp_engine.nlp[language].meta
    return f"{meta.get('lang')}_{meta.get('name')}", str(meta.get("version"))
