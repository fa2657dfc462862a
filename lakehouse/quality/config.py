"""QualityConfig: quality.yml + its lexicon (+ safety.yml's crisis lexicon), validated, hashed."""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

_TOP = ("scorer", "version", "lexicon", "embeddings", "model", "relevance", "empathy", "coherence",
        "crisis_handling", "reasoning", "preference", "backends")
_LEXICON_TOP = ("mechanisms", "emotion_words", "harmful", "crisis_handling", "reasoning", "stopwords")
BACKEND_KINDS = ("judge", "hf_classifier")
_NON_SEMANTIC = ("threads", "cache_size")


class QualityConfigError(ValueError):
    """quality.yml (or its lexicon) is malformed, or the model cannot be used; one-line message."""


@dataclass(frozen=True)
class QualityConfig:
    raw: Mapping[str, Any]
    lexicon: Mapping[str, Any]
    safety_hash: str
    source: str = "packaged"
    _hash: str = field(default="", repr=False)

    @property
    def embeddings(self) -> bool:
        return bool(self.raw.get("embeddings", True))

    @property
    def version(self) -> str:
        return str(self.raw.get("version", "0"))

    @property
    def scorer(self) -> str:
        return str(self.raw.get("scorer", "lakehouse.quality"))

    def section(self, name: str) -> Mapping[str, Any]:
        return self.raw.get(name) or {}

    @property
    def config_hash(self) -> str:
        """sha256 over the canonical quality config, its lexicon and the safety config hash."""
        return self._hash


def _canon(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def parse_quality_config(raw: Mapping[str, Any], lexicon: Mapping[str, Any], safety_hash: str,
                         source: str = "packaged") -> QualityConfig:
    unknown = [k for k in raw if k not in _TOP]
    if unknown:
        raise QualityConfigError(f"quality config: unknown keys {unknown}")
    bad_lex = [k for k in lexicon if k not in _LEXICON_TOP]
    if bad_lex:
        raise QualityConfigError(f"quality lexicon: unknown keys {bad_lex}")
    for name, spec in (raw.get("backends") or {}).items():
        if not isinstance(spec, Mapping) or spec.get("kind") not in BACKEND_KINDS:
            raise QualityConfigError(f"quality backends.{name}: kind must be one of {BACKEND_KINDS}")
    # threads / cache size change speed, never scores: left out of the hash (no needless re-scoring)
    semantic = {**raw, "model": {k: v for k, v in (raw.get("model") or {}).items() if k not in _NON_SEMANTIC}}
    canon = {"quality": semantic, "lexicon": lexicon, "safety": safety_hash}
    h = hashlib.sha256(_canon(canon).encode("utf-8")).hexdigest()
    return QualityConfig(raw=json.loads(_canon(raw)), lexicon=json.loads(_canon(lexicon)), safety_hash=safety_hash,
                         source=source, _hash=h)


def load_quality_config(path: str | None = None, **overrides: Any) -> QualityConfig:
    """quality.yml (packaged default or $LAKEHOUSE_CONFIG_DIR's when ``path`` is None) with keyword
    overrides deep-merged on top (e.g. ``embeddings=False``, ``model={"max_tokens": 32}``)."""
    import yaml

    from lakehouse.config import config_path
    from lakehouse.safety import load_safety_config

    fp = Path(path) if path else config_path("quality.yml")
    try:
        raw = yaml.safe_load(fp.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise QualityConfigError(f"cannot read quality config {fp}: {e}") from e
    unknown = [k for k in overrides if k not in _TOP]
    if unknown:
        raise QualityConfigError(f"quality config overrides: unknown keys {unknown}")
    raw = _deep_merge(raw, overrides)
    lex_name = str(raw.get("lexicon") or "quality_lexicon.yml")
    lex_path = Path(lex_name) if Path(lex_name).is_absolute() else (
        fp.parent / lex_name if path else config_path(lex_name))
    try:
        lexicon = yaml.safe_load(lex_path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise QualityConfigError(f"cannot read quality lexicon {lex_path}: {e}") from e
    return parse_quality_config(raw, lexicon, load_safety_config().config_hash, source=str(fp))
