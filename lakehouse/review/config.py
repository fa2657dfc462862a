"""rubric.yml and bias.yml: loading, validation, version and hash (for provenance)."""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_CONFIG_DIR = "LAKEHOUSE_CONFIG_DIR"


class ReviewConfigError(ValueError):
    """rubric.yml or bias.yml is malformed."""


def _read_config(name: str, path: str | None) -> tuple[str, Path]:
    if path:
        return Path(path).read_text(encoding="utf-8"), Path(path).parent
    cdir = os.environ.get(ENV_CONFIG_DIR)
    if cdir and (Path(cdir) / name).is_file():
        return (Path(cdir) / name).read_text(encoding="utf-8"), Path(cdir)
    return importlib.resources.files("lakehouse").joinpath("config", name).read_text(encoding="utf-8"), Path.cwd()


def _canonical_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


# -- rubric -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RubricItem:
    id: str
    label: str
    question: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Rubric:
    version: str
    items: tuple[RubricItem, ...]
    verdicts: dict[str, str]
    severity: dict[str, int]
    notes_required_for: frozenset[str]
    notes_max_chars: int
    release_overridable: tuple[str, ...]
    sampling: dict[str, Any]
    signoff: dict[str, Any]
    config_hash: str = ""

    @property
    def item_ids(self) -> list[str]:
        return [i.id for i in self.items]

    @property
    def provenance(self) -> dict[str, str]:
        return {"rubric_version": self.version, "rubric_sha256": self.config_hash}

    def overridable(self, reason_code: str | None) -> bool:
        """May a `release` verdict override a quarantine with this reason code?"""
        if not reason_code:
            return False
        head = reason_code.split(":", 1)[0]
        return head in self.release_overridable


_RUBRIC_KEYS = {"version", "items", "verdicts", "severity", "notes_required_for", "notes_max_chars",
                "release_overridable", "sampling", "signoff"}


def parse_rubric(raw: dict[str, Any]) -> Rubric:
    unknown = set(raw) - _RUBRIC_KEYS
    if unknown:
        raise ReviewConfigError(f"rubric.yml: unknown keys {sorted(unknown)}")
    items = []
    for it in raw.get("items") or []:
        if not isinstance(it, dict) or not it.get("id"):
            raise ReviewConfigError(f"rubric.yml: every item needs an id, got {it!r}")
        values = tuple(str(v) for v in it.get("values") or ())
        if not values:
            raise ReviewConfigError(f"rubric.yml: item {it['id']!r} has no values")
        items.append(RubricItem(id=str(it["id"]), label=str(it.get("label") or it["id"]),
                                question=str(it.get("question") or ""), values=values))
    ids = [i.id for i in items]
    if len(set(ids)) != len(ids):
        raise ReviewConfigError("rubric.yml: item ids must be unique")
    verdicts = {str(k): str(v) for k, v in (raw.get("verdicts") or {}).items()}
    for needed in ("pass", "fail", "escalate", "release"):
        if needed not in verdicts:
            raise ReviewConfigError(f"rubric.yml: verdict {needed!r} missing")
    return Rubric(
        version=str(raw.get("version", "0")), items=tuple(items), verdicts=verdicts,
        severity={str(k): int(v) for k, v in (raw.get("severity") or {"escalate": 3, "fail": 2, "pass": 1}).items()},
        notes_required_for=frozenset(str(v) for v in raw.get("notes_required_for") or ()),
        notes_max_chars=int(raw.get("notes_max_chars") or 2000),
        release_overridable=tuple(str(v) for v in raw.get("release_overridable") or ()),
        sampling=dict(raw.get("sampling") or {}), signoff=dict(raw.get("signoff") or {}),
        config_hash=_canonical_hash(raw),
    )


@functools.lru_cache(maxsize=8)
def _load_rubric_cached(path: str | None, env_dir: str | None) -> Rubric:
    import yaml

    text, _ = _read_config("rubric.yml", path)
    return parse_rubric(yaml.safe_load(text) or {})


def load_rubric(path: str | None = None) -> Rubric:
    """The rubric (packaged rubric.yml, or $LAKEHOUSE_CONFIG_DIR/rubric.yml, or ``path``)."""
    return _load_rubric_cached(path, os.environ.get(ENV_CONFIG_DIR))


# -- bias lexicons -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Group:
    category: str
    name: str
    terms: tuple[str, ...]
    generic: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.category}:{self.name}"


@dataclass(frozen=True)
class BiasConfig:
    version: str
    window: int
    generalisers: tuple[str, ...]
    hedges: tuple[str, ...]
    negative_attributes: tuple[str, ...]
    groups: tuple[Group, ...]
    categories: tuple[str, ...]
    config_hash: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


def _merge_categories(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(base))
    for cat, spec in (extra or {}).items():
        tgt = out.setdefault(cat, {"groups": {}})
        for g, gs in ((spec or {}).get("groups") or {}).items():
            cur = tgt.setdefault("groups", {}).setdefault(g, {"terms": [], "generic": []})
            for k in ("terms", "generic"):
                cur[k] = list(cur.get(k) or []) + [t for t in (gs or {}).get(k) or [] if t not in (cur.get(k) or [])]
    return out


def parse_bias_config(raw: dict[str, Any], extra: list[dict[str, Any]] | None = None) -> BiasConfig:
    cats = raw.get("categories") or {}
    if not isinstance(cats, dict) or not cats:
        raise ReviewConfigError("bias.yml: `categories` must map category -> {groups: ...}")
    for e in extra or []:
        cats = _merge_categories(cats, e.get("categories") or {})
    groups = []
    for cat in sorted(cats):
        for name, gs in sorted(((cats[cat] or {}).get("groups") or {}).items()):
            gs = gs or {}
            groups.append(Group(category=str(cat), name=str(name),
                                terms=tuple(str(t) for t in gs.get("terms") or ()),
                                generic=tuple(str(t) for t in gs.get("generic") or ())))
    merged = dict(raw, categories=cats)
    return BiasConfig(
        version=str(raw.get("version", "0")), window=int(raw.get("window") or 4),
        generalisers=tuple(str(t) for t in raw.get("generalisers") or ()),
        hedges=tuple(str(t) for t in raw.get("hedges") or ()),
        negative_attributes=tuple(str(t) for t in raw.get("negative_attributes") or ()),
        groups=tuple(groups), categories=tuple(sorted(cats)), config_hash=_canonical_hash(merged), raw=merged,
    )


@functools.lru_cache(maxsize=8)
def _load_bias_cached(path: str | None, env_dir: str | None) -> BiasConfig:
    import yaml

    text, base = _read_config("bias.yml", path)
    raw = yaml.safe_load(text) or {}
    extra = []
    for p in raw.get("extra_lexicons") or []:
        fp = Path(p) if Path(p).is_absolute() else base / p
        extra.append(yaml.safe_load(fp.read_text(encoding="utf-8")) or {})
    return parse_bias_config(raw, extra)


def load_bias_config(path: str | None = None) -> BiasConfig:
    """The bias lexicons (packaged bias.yml, or $LAKEHOUSE_CONFIG_DIR/bias.yml, or ``path``)."""
    return _load_bias_cached(path, os.environ.get(ENV_CONFIG_DIR))
