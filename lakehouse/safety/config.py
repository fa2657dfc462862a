"""SafetyConfig: lexicon categories and quarantine policy from lakehouse/config/safety.yml."""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

KINDS = ("crisis", "toxicity")
_TOP = ("checkers", "extra_lexicons", "policy", "categories")
_CATEGORY_KEYS = ("kind", "description", "source", "phrases", "patterns")
ENV_EXTRA = "LAKEHOUSE_SAFETY_LEXICONS"


class SafetyConfigError(ValueError):
    """safety.yml (or an extra lexicon) is malformed; the message names the key."""


@dataclass(frozen=True)
class Category:
    name: str
    kind: str
    phrases: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()


@dataclass(frozen=True)
class SafetyPolicy:
    quarantine_kinds: tuple[str, ...] = KINDS
    crisis_roles: tuple[str, ...] = ("user",)
    toxicity_roles: tuple[str, ...] = ("user", "assistant", "system")


@dataclass(frozen=True)
class SafetyConfig:
    categories: tuple[Category, ...]
    policy: SafetyPolicy
    checkers: tuple[str, ...] = ("lexicon",)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False, hash=False)

    @property
    def config_hash(self) -> str:
        """sha256 of the canonical config with the extra lexicons merged in."""
        canon = json.dumps(self.raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canon.encode("utf-8")).hexdigest()


def _category(name: str, spec: Mapping[str, Any]) -> Category:
    unknown = [k for k in spec if k not in _CATEGORY_KEYS]
    if unknown:
        raise SafetyConfigError(f"safety category {name!r}: unknown keys {unknown}")
    kind = spec.get("kind")
    if kind not in KINDS:
        raise SafetyConfigError(f"safety category {name!r}: kind must be one of {KINDS}, got {kind!r}")
    return Category(name, kind, tuple(str(p) for p in spec.get("phrases") or ()),
                    tuple(str(p) for p in spec.get("patterns") or ()))


def merge_categories(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Union of category specs; phrases/patterns of same-named categories are concatenated."""
    out = {k: dict(v) for k, v in base.items()}
    for name, spec in extra.items():
        if name in out:
            if spec.get("kind", out[name]["kind"]) != out[name]["kind"]:
                raise SafetyConfigError(f"extra lexicon changes the kind of category {name!r}")
            for key in ("phrases", "patterns"):
                out[name][key] = list(out[name].get(key) or []) + list(spec.get(key) or [])
        else:
            out[name] = dict(spec)
    return out


def parse_safety_config(raw: Mapping[str, Any], extra: list[Mapping[str, Any]] | None = None) -> SafetyConfig:
    """Validate parsed safety.yml; ``extra`` are parsed extra lexicon files ({categories: ...})."""
    unknown = [k for k in raw if k not in _TOP]
    if unknown or "categories" not in raw:
        raise SafetyConfigError(f"safety config: unknown keys {unknown}; `categories` is required")
    cats: dict[str, Any] = dict(raw["categories"] or {})
    for doc in extra or []:
        cats = merge_categories(cats, (doc or {}).get("categories") or {})
    pol = raw.get("policy") or {}
    bad = [k for k in pol.get("quarantine_kinds", KINDS) if k not in KINDS]
    if bad:
        raise SafetyConfigError(f"policy.quarantine_kinds: unknown {bad}")
    policy = SafetyPolicy(
        quarantine_kinds=tuple(pol.get("quarantine_kinds", KINDS)),
        crisis_roles=tuple(pol.get("crisis_roles", ("user",))),
        toxicity_roles=tuple(pol.get("toxicity_roles", ("user", "assistant", "system"))),
    )
    merged = {**{k: v for k, v in raw.items() if k != "extra_lexicons"}, "categories": cats}
    return SafetyConfig(
        categories=tuple(_category(n, s or {}) for n, s in sorted(cats.items())),
        policy=policy,
        checkers=tuple(str(c) for c in raw.get("checkers") or ("lexicon",)),
        raw=json.loads(json.dumps(merged, default=str)),
    )


def load_safety_config(path: str | None = None) -> SafetyConfig:
    """Load safety.yml (packaged default when None) plus its extra lexicons and $LAKEHOUSE_SAFETY_LEXICONS."""
    import yaml

    if path:
        text, base = Path(path).read_text(encoding="utf-8"), Path(path).parent
    else:
        from lakehouse.config import config_path

        text = config_path("safety.yml").read_text(encoding="utf-8")
        base = Path.cwd()
    raw = yaml.safe_load(text) or {}
    paths = [str(p) for p in raw.get("extra_lexicons") or []]
    paths += [p for p in os.environ.get(ENV_EXTRA, "").split(os.pathsep) if p]
    extra = []
    for p in paths:
        fp = Path(p) if Path(p).is_absolute() else base / p
        extra.append(yaml.safe_load(fp.read_text(encoding="utf-8")) or {})
    return parse_safety_config(raw, extra)
