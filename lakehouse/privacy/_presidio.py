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
from .config import PrivacyConfig, PrivacyConfigError, language_stop_words

_DIGIT = re.compile(r"\d")
# Recognizers whose every pattern needs a digit: skipped on digit-free text (most chat turns).
_DIGIT_GATED = {
    "CreditCardRecognizer", "DateRecognizer", "IbanRecognizer", "IpRecognizer", "MedicalLicenseRecognizer",
    "PhoneRecognizer", "UsBankRecognizer", "UsItinRecognizer", "UsLicenseRecognizer", "UsPassportRecognizer",
    "UsSsnRecognizer", "CryptoRecognizer",
}
PHONE_CONTEXT = ["phone", "number", "telephone", "cell", "cellphone", "mobile", "call", "text", "reach", "fax", "contact"]


def _spacy_load(model: str) -> "spacy.language.Language":
    """spacy.load, quiet about W095 (en_core_web_md 3.7.1 under spaCy 3.8: measured, see bench/README.md)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*\[W095\]")
        return spacy.load(model)


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
        from .config import resolve_model

        model = resolve_model(self.models[0]["model_name"])
        require_model(model)
        nlp = _spacy_load(model)
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
                 language: str = "en", needs_digit: bool = False, min_digits: int = 0,
                 prefilters: dict[int, str] | None = None):
        self._regexes = [(re.compile(rx), score) for rx, score in regexes]
        # regex index -> cheap regex that must match somewhere before the (slow) regex is tried
        self._prefilters = {i: re.compile(p) for i, p in (prefilters or {}).items()}
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
        for i, (rx, score) in enumerate(self._regexes):
            pre = self._prefilters.get(i)
            if pre is not None and not pre.search(text):
                continue
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


class FinderRecognizer(LocalRecognizer):
    """Wraps a span finder of :mod:`recognizers` (``find(text) -> [(start, end)]``, or
    ``[(start, end, score)]`` for a finder that scores its own spans) as one entity."""

    def __init__(self, name: str, entity: str, finder: Any, score: float, context: list[str] | None = None,
                 language: str = "en"):
        self._finder = finder
        self._score = score
        super().__init__(supported_entities=[entity], supported_language=language, context=context, name=name)

    def load(self) -> None:  # noqa: D102
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list[RecognizerResult]:  # noqa: D102
        entity = self.supported_entities[0]
        out = []
        for span in self._finder.find(text):
            s, e = span[0], span[1]
            if e <= s:
                continue
            score = float(span[2]) if len(span) > 2 else self._score
            expl = AnalysisExplanation(recognizer=self.name, original_score=score, pattern_name=self.name,
                                       pattern=None, validation_result=None)
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


def custom_recognizers(config: PrivacyConfig, nlp: Any = None) -> list[LocalRecognizer]:
    """The project's recognizers enabled in privacy.yml."""
    from . import gazetteers, recognizers

    lang = config.language
    out: list[LocalRecognizer] = []
    needs_lists = any(config.custom(n).get("enabled") for n in ("name_shape", "place_gazetteer", "address_block"))
    if needs_lists:
        common = common_words(nlp) if nlp is not None else frozenset()
        stop = language_stop_words(lang) if nlp is not None else frozenset()
        first, last = gazetteers.first_names(), gazetteers.last_names()
        regions, cities = gazetteers.regions(), gazetteers.cities()
        places = frozenset(p.lower() for p in regions | cities)
    c = config.custom("name_shape")
    if c.get("enabled"):
        finder = recognizers.NameShapeFinder(common, first, last, places,
                                             stop | config.allow_terms | config.filler_terms)
        out.append(FinderRecognizer("NameShapeRecognizer", "PERSON", finder, float(c["score"]), language=lang))
    c = config.custom("place_gazetteer")
    if c.get("enabled"):
        out.append(FinderRecognizer("PlaceGazetteerRecognizer", "LOCATION",
                                    recognizers.PlaceFinder(regions, cities, first), float(c["score"]), language=lang))
    c = config.custom("address_block")
    if c.get("enabled"):
        finder = recognizers.AddressBlockFinder(
            [patterns.street_address_regex(config.street_suffixes), patterns.po_box_regex(),
             patterns.european_street_regex()], regions, common, config.allow_terms,
            max_lines=int(c.get("max_lines", 5)))
        out.append(FinderRecognizer("AddressBlockRecognizer", "STREET_ADDRESS", finder, float(c["score"]),
                                    context=["address", "live", "lives", "street", "zip", "postcode"], language=lang))
    c = config.custom("iban")
    if c.get("enabled"):
        finder = recognizers.IbanFinder(float(c["score"]), float(c.get("checksum_only_score", c["score"])))
        out.append(FinderRecognizer("IbanRegistryRecognizer", "IBAN_CODE", finder, float(c["score"]),
                                    context=["iban", "bank", "account", "transfer"], language=lang))
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
        out.append(RegexRecognizer("LongNumberRecognizer", "ID_NUMBER", [(patterns.long_number_regex(), float(c["score"])),
                                                                         (patterns.account_code_regex(), float(c["score"]))],
                                   context=["account", "card", "member", "policy", "acct", "identification", "reference"],
                                   language=lang, min_digits=int(c.get("min_digits", 8))))
    c = config.custom("cue_person")
    if c.get("enabled"):
        out.append(RegexRecognizer("CuePersonRecognizer", "PERSON",
                                   [(rx, float(c["score"])) for rx in patterns.cue_person_regexes()], language=lang,
                                   prefilters={2: patterns.cue_after_prefilter()}))
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
    for rec in custom_recognizers(config, nlp_engine.nlp[config.language]):
        registry.add_recognizer(rec)
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=[config.language],
                          default_score_threshold=config.score_threshold)


def build_vanilla_analyzer(model: str, language: str = "en") -> AnalyzerEngine:
    """Presidio with its defaults (recognizers, NER mapping, threshold 0) on the given spaCy model."""
    from .config import resolve_model

    model = resolve_model(model)
    require_model(model)
    engine = NoDownloadSpacyNlpEngine(models=[{"lang_code": language, "model_name": model}])
    engine.load()
    return AnalyzerEngine(nlp_engine=engine, supported_languages=[language])


class NoDownloadSpacyNlpEngine(SpacyNlpEngine):
    """Presidio's default spaCy engine (all pipes, default NER mapping), loading an installed
    package or a folder itself: Presidio's own load() calls spacy.cli.download for a name it
    does not find as a package, which a folder path always is."""

    def load(self) -> None:  # noqa: D102
        self.nlp = {m["lang_code"]: _spacy_load(m["model_name"]) for m in self.models}


def iter_artifacts(analyzer: AnalyzerEngine, texts: Sequence[str], language: str, batch_size: int) -> Iterator[NlpArtifacts]:
    """NlpArtifacts for texts, in order, through nlp.pipe."""
    for _text, art in analyzer.nlp_engine.process_batch(list(texts), language, batch_size=batch_size):
        yield art


def model_name_version(analyzer: AnalyzerEngine, language: str) -> tuple[str, str]:
    meta = analyzer.nlp_engine.nlp[language].meta
    return f"{meta.get('lang')}_{meta.get('name')}", str(meta.get("version"))


# ------------------------------------------------------------------------------------ fast path
_PATTERN_GATE = re.compile(r"\d|@|[A-Za-z0-9]\.[A-Za-z]{2}|://")
NAME_ENTITIES = frozenset({"PERSON", "LOCATION"})


class Hit:
    """A recognizer result reduced to what the redactor keeps (type, span, score)."""

    __slots__ = ("entity_type", "start", "end", "score")

    def __init__(self, entity_type: str, start: int, end: int, score: float):
        self.entity_type, self.start, self.end, self.score = entity_type, start, end, score


class FastAnalyzer:
    """The redactor's analysis, equal in what it can find to ``AnalyzerEngine.analyze`` on the
    registry of :func:`build_analyzer`, minus the work that cannot find anything:

    * NER (spaCy, NER pipes only, ``nlp.pipe``) reads only the windows of :func:`gate.ner_windows`
      (sentences with a capitalised candidate word), not whole texts;
    * the name/place regex recognizers (no context words) run directly, without Presidio's engine;
    * Presidio's engine (pattern recognizers + context enhancement on a tokenizer-only doc) runs
      only on texts with a digit, "@" or a dotted word, with only the pattern entities.
    """

    def __init__(self, config: PrivacyConfig):
        from . import gate, gazetteers

        self.config = config
        self.analyzer = build_analyzer(config)
        self.nlp = self.analyzer.nlp_engine.nlp[config.language]
        recs = self.analyzer.registry.recognizers
        self.name_recognizers = [r for r in recs if not isinstance(r, predefined.SpacyRecognizer)
                                 and set(r.supported_entities) <= NAME_ENTITIES]
        self.pattern_entities = sorted({e for r in recs for e in r.supported_entities} - NAME_ENTITIES)
        self.stop_words = language_stop_words(config.language)
        gcfg = config.ner_gate
        self.gate_enabled = bool(gcfg.get("enabled", True))
        self.skip_words = self.stop_words | config.allow_terms | config.filler_terms
        self.common_words = common_words(self.nlp) if gcfg.get("common_words", "model_lemma_index") else frozenset()
        # a common word that is also a first name or a place still opens a candidate sentence ("Will", "Hungary")
        self.first_names = (gazetteers.first_names() | {p.lower() for p in gazetteers.regions() | gazetteers.cities()}
                            if gcfg.get("names_open_sentences", True) else frozenset())
        self._windows = gate.ner_windows

    def windows(self, text: str, near_placeholder: bool = False) -> list[tuple[int, int]]:
        """NER windows of a text; ``near_placeholder``: only those holding a <TAG_n> placeholder
        (the residual pass: what replacing a span may have revealed, "<ADDRESS_1> in Port X")."""
        if not self.gate_enabled:
            wins = [(0, len(text))] if text.strip() else []
        else:
            wins = self._windows(text, self.skip_words, self.common_words, self.first_names)
        if near_placeholder:
            from .patterns import PLACEHOLDER_RE

            wins = [(s, e) for s, e in wins if PLACEHOLDER_RE.search(text, s, e)]
        return wins

    def analyze_batch(self, texts: Sequence[str], residual: bool = False) -> list[list[Hit]]:
        """Hits per text. ``residual``: NER only on windows next to a placeholder (see windows())."""
        cfg = self.config
        out: list[list[Hit]] = [[] for _ in texts]
        jobs: list[tuple[int, int, str]] = []
        for i, t in enumerate(texts):
            jobs.extend((i, s, t[s:e]) for s, e in self.windows(t, near_placeholder=residual))
        labels, score = cfg.ner_labels, cfg.ner_score
        for (i, off, _), doc in zip(jobs, self.nlp.pipe([j[2] for j in jobs], batch_size=cfg.batch_size)):
            for ent in doc.ents:
                label = labels.get(ent.label_)
                if label is not None:
                    out[i].append(Hit(label, ent.start_char + off, ent.end_char + off, score))
        for i, t in enumerate(texts):
            for rec in self.name_recognizers:
                out[i].extend(Hit(r.entity_type, r.start, r.end, r.score) for r in rec.analyze(t, rec.supported_entities))
            if _PATTERN_GATE.search(t):
                doc = self.nlp.make_doc(t)
                art = NlpArtifacts(entities=[], tokens=doc, tokens_indices=[tok.idx for tok in doc],
                                   lemmas=[tok.lower_ for tok in doc], nlp_engine=self.analyzer.nlp_engine,
                                   language=cfg.language, scores=[])
                res = self.analyzer.analyze(text=t, language=cfg.language, entities=self.pattern_entities,
                                            nlp_artifacts=art, score_threshold=cfg.score_threshold)
                out[i].extend(Hit(r.entity_type, r.start, r.end, r.score) for r in res)
        return out


def common_words(nlp: "spacy.language.Language") -> frozenset[str]:
    """Lower-case English words of the model's lemmatizer index (WordNet-derived), if it has one."""
    for name in ("lemmatizer",):
        if name in nlp.pipe_names or name in nlp.disabled:
            pipe = nlp.get_pipe(name)
            lookups = getattr(pipe, "lookups", None)
            if lookups is not None and lookups.has_table("lemma_index"):
                table = lookups.get_table("lemma_index")
                return frozenset(w for k in table.keys() for w in table[k] if w.isalpha())
    return frozenset()
