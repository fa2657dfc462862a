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
_TOP = ("checkers", "extra_lexicons", "policy", "disclosure", "attribution", "categories")
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
    """Who counts for what, and what quarantines (see safety.yml `policy`).

    Crisis language never quarantines by itself: ``quarantine_kinds`` defaults to toxicity only,
    counted from assistant turns. A non-edge record is quarantined for a harmful reply, a crisis
    disclosure whose handling scores below ``crisis_handling_min`` (lakehouse.quality.policy), or a
    toxic assistant turn.
    """

    quarantine_kinds: tuple[str, ...] = ("toxicity",)
    crisis_roles: tuple[str, ...] = ("user",)
    toxicity_roles: tuple[str, ...] = ("assistant",)
    crisis_handling_min: float = 0.5
    acute_categories: tuple[str, ...] = ("suicide", "self_harm", "overdose", "violence")


@dataclass(frozen=True)
class DisclosureRules:
    """A crisis phrase preceded (same sentence, ``window`` words) by a negation is not a disclosure
    ("I've never contemplated suicide"), unless an exception word is there too ("can't stop")."""

    window: int = 5
    negation: str = r"\b(?:never|not|no|without|deny|denies|denied)\b|n't\b"
    exceptions: str = r"\b(?:stop|help|keep|quit|longer|anymore)\b"
    # a disclosure in a sentence matching this is about the past: still a disclosure, not acute
    historical: str = (r"\b(?:used to|in the past|years? ago|months ago|when i was|back (?:then|in)|began to|"
                       r"at the time|as a (?:kid|child|teen|teenager)|last year|in high school|anymore|no longer)\b")
    # ... or about someone else (a friend's suicide, a parent's attempt): a disclosure, not acute
    third_party: str = (r"\blost (?:a|my|our|her|his) (?:\w+ ){0,2}to suicide\b|\b(?:himself|herself|themselves)\b|"
                        r"\b(?:he|she|they|mother|mom|father|dad|brother|sister|son|daughter|husband|wife|partner|"
                        r"boyfriend|girlfriend|friend|child|kid|cousin|uncle|aunt|student|client|patient) (?:has |had |have |was |is )?"
                        r"(?:attempted|committed|died by|tried|threatened|talks about|talked about|overdosed|self-harms|cuts)\b")


@dataclass(frozen=True)
class AttributionRules:
    """A toxicity hit inside double quotes, or preceded (``window`` words) by ``pattern`` (reported
    speech, a hypothetical, a negation: 'depression tells you "you're worthless"', 'if everyone
    thinks you're worthless', 'that doesn't mean you are worthless') is not the speaker's own insult."""

    window: int = 4
    pattern: str = (r"\b(?:if|that|think|thinks|thinking|thought|feel|feels|feeling|felt|believe|believes|"
                    r"tell|tells|told|telling|say|says|said|saying|like|not|never|mean|means)\b|n't\b")


@dataclass(frozen=True)
class SafetyConfig:
    categories: tuple[Category, ...]
    policy: SafetyPolicy
    checkers: tuple[str, ...] = ("lexicon",)
    disclosure: DisclosureRules = field(default_factory=DisclosureRules)
    attribution: AttributionRules = field(default_factory=AttributionRules)
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
    d = SafetyPolicy()
    unknown_pol = [k for k in pol if k not in ("quarantine_kinds", "crisis_roles", "toxicity_roles",
                                               "crisis_handling_min", "acute_categories")]
    if unknown_pol:
        raise SafetyConfigError(f"safety policy: unknown keys {unknown_pol}")
    bad = [k for k in pol.get("quarantine_kinds", d.quarantine_kinds) if k not in KINDS]
    if bad:
        raise SafetyConfigError(f"policy.quarantine_kinds: unknown {bad}")
    try:
        handling_min = float(pol.get("crisis_handling_min", d.crisis_handling_min))
    except (TypeError, ValueError) as e:
        raise SafetyConfigError(f"policy.crisis_handling_min must be a number: {e}") from e
    policy = SafetyPolicy(
        quarantine_kinds=tuple(pol.get("quarantine_kinds", d.quarantine_kinds)),
        crisis_roles=tuple(pol.get("crisis_roles", d.crisis_roles)),
        toxicity_roles=tuple(pol.get("toxicity_roles", d.toxicity_roles)),
        crisis_handling_min=handling_min,
        acute_categories=tuple(pol.get("acute_categories", d.acute_categories)),
    )
    dis = raw.get("disclosure") or {}
    unknown_dis = [k for k in dis if k not in ("window", "negation", "exceptions", "historical", "third_party")]
    if unknown_dis:
        raise SafetyConfigError(f"safety disclosure: unknown keys {unknown_dis}")
    dd = DisclosureRules()
    disclosure = DisclosureRules(window=int(dis.get("window", dd.window)), negation=str(dis.get("negation", dd.negation)),
                                 exceptions=str(dis.get("exceptions", dd.exceptions)),
                                 historical=str(dis.get("historical", dd.historical)),
                                 third_party=str(dis.get("third_party", dd.third_party)))
    att = raw.get("attribution") or {}
    unknown_att = [k for k in att if k not in ("window", "pattern")]
    if unknown_att:
        raise SafetyConfigError(f"safety attribution: unknown keys {unknown_att}")
    da = AttributionRules()
    attribution = AttributionRules(window=int(att.get("window", da.window)), pattern=str(att.get("pattern", da.pattern)))
    merged = {**{k: v for k, v in raw.items() if k != "extra_lexicons"}, "categories": cats}
    return SafetyConfig(
        categories=tuple(_category(n, s or {}) for n, s in sorted(cats.items())),
        policy=policy,
        checkers=tuple(str(c) for c in raw.get("checkers") or ("lexicon",)),
        disclosure=disclosure,
        attribution=attribution,
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
