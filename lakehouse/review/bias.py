"""Bias and cultural-competency signals per record, and the release's bias report (reports/bias.json).

Per record (a pure, deterministic batch function, ``lakehouse.review.bias:bias_batch``):

- ``group_mentions``   list<string>  ``category:group`` keys of bias.yml mentioned anywhere;
- ``stereotype_flags`` list<string>  ``category:group`` keys with a generalising negative attribution
  ("women are so dramatic") in any turn except a preference pair's rejected answer;
- ``bias_score``       double        share of model-output segments (assistant turns, chosen turns; the
  sentences of a pretraining text) that carry a stereotyping flag, 0-1, 3 decimals: the value the
  product spec's stage-1 limit (bias <= 0.2) applies to;
- ``language``, ``language_score``   ISO 639-1 code and normalised probability (py3langid, offline;
  ``und`` for a record without text).

The aggregate :func:`bias_report` streams records (release JSON lines or flat dicts) and returns a
JSON-ready dict: mention rates by family and split, stereotyping, language distribution and the
change against a baseline report. It never holds message text.
"""

from __future__ import annotations

import functools
import re
from collections import Counter, defaultdict
from typing import Any, Iterable, Iterator, Mapping, Sequence

from lakehouse.review.config import BiasConfig, load_bias_config

REPORT_FORMAT = "lakehouse-bias-report/1"
# version of the per-record signals (matcher, segments, language sample): part of the engine stage's
# cache fingerprint (lakehouse.engine.stages.bias_fingerprint) with the lexicon's hash; bump it when
# record_bias changes what it returns for the same text and lexicon
BIAS_VERSION = "1"
_WORD_RE = re.compile(r"[\w'+-]+")
_SENT_RE = re.compile(r"(?<=[.!?;])\s+|\n+")
_PLACEHOLDER_RE = re.compile(r"<[A-Z_]+(?:_\d+)?>")
MODEL_ROLES = frozenset({"assistant", "chosen"})
LANG_CHARS = 2000


def _normalize(text: str) -> str:
    from lakehouse.safety.lexicon import normalize

    return normalize(text)


def _alternation(phrases: Iterable[str]) -> str:
    words = sorted({" ".join(_normalize(p).split()) for p in phrases if p and p.strip()}, key=lambda p: (-len(p), p))
    return "|".join(r"\s+".join(re.escape(w) for w in p.split()) for p in words)


class _Matcher:
    """Compiled lexicons of one BiasConfig (built once per process and config)."""

    def __init__(self, cfg: BiasConfig):
        self.cfg = cfg
        self.term_groups: dict[str, set[str]] = defaultdict(set)
        self.generic_groups: dict[str, set[str]] = defaultdict(set)
        for g in cfg.groups:
            for t in g.terms + g.generic:
                self.term_groups[" ".join(_normalize(t).split())].add(g.key)
            for t in g.generic:
                self.generic_groups[" ".join(_normalize(t).split())].add(g.key)
        b = r"(?<![\w'])(?:{})(?![\w'])"
        self.terms = re.compile(b.format(_alternation(self.term_groups))) if self.term_groups else None
        self.generic = re.compile(b.format(_alternation(self.generic_groups))) if self.generic_groups else None
        self.gen = re.compile(b.format(_alternation(cfg.generalisers))) if cfg.generalisers else None
        self.neg = re.compile(b.format(_alternation(cfg.negative_attributes))) if cfg.negative_attributes else None
        self.hedge = re.compile(b.format(_alternation(cfg.hedges))) if cfg.hedges else None

    def mentions(self, norm: str) -> set[str]:
        if self.terms is None:
            return set()
        return {k for m in self.terms.finditer(norm) for k in self.term_groups.get(" ".join(m.group(0).split()), ())}

    def stereotypes(self, norm: str) -> set[str]:
        """Group keys with a generalising negative attribution in one of the text's sentences."""
        if self.generic is None or self.gen is None or self.neg is None:
            return set()
        out: set[str] = set()
        w = self.cfg.window
        for sent in _SENT_RE.split(norm):
            for m in self.generic.finditer(sent):
                keys = self.generic_groups.get(" ".join(m.group(0).split()), set())
                if not keys or keys <= out:
                    continue
                if self.hedge is not None and self.hedge.search(sent[:m.start()]):
                    continue
                rest = " ".join(_WORD_RE.findall(sent[m.end():])[: 2 * w + 8])
                g = self.gen.search(rest)
                if g is None or rest[:g.start()].count(" ") > w:
                    continue
                tail = rest[g.end():]
                n = self.neg.search(tail)
                if n is None or tail[:n.start()].strip().count(" ") + (1 if tail[:n.start()].strip() else 0) > w:
                    continue
                out |= keys
        return out


@functools.lru_cache(maxsize=4)
def _matcher(cfg: BiasConfig) -> _Matcher:
    return _Matcher(cfg)


@functools.lru_cache(maxsize=1)
def _language_identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def language_id_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"py3langid {version('py3langid')}"
    except PackageNotFoundError:
        return "py3langid (not installed)"


def identify_language(text: str) -> tuple[str, float]:
    """(ISO 639-1 code, probability) of a text, offline; ``("und", 0.0)`` without letters."""
    sample = _PLACEHOLDER_RE.sub(" ", text or "")[:LANG_CHARS]
    if not any(ch.isalpha() for ch in sample):
        return "und", 0.0
    lang, prob = _language_identifier().classify(sample)
    return str(lang), round(float(prob), 3)


def _segments(rec: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(role, text) of a record's turns: sft messages, preference prompt/chosen/rejected, or text."""
    out: list[tuple[str, str]] = []
    for m in rec.get("messages") or []:
        if isinstance(m, Mapping) and isinstance(m.get("content"), str):
            out.append((str(m.get("role") or "user"), m["content"]))
    for col, fixed in (("prompt", None), ("chosen", "chosen"), ("rejected", "rejected")):
        for m in rec.get(col) or []:
            if isinstance(m, Mapping) and isinstance(m.get("content"), str):
                out.append((fixed or str(m.get("role") or "user"), m["content"]))
    if isinstance(rec.get("text"), str):
        out.append(("text", rec["text"]))
    return out


def record_bias(rec: Mapping[str, Any], cfg: BiasConfig | None = None) -> dict[str, Any]:
    """The bias columns of one record (dict with messages/prompt/chosen/rejected/text)."""
    m = _matcher(cfg or load_bias_config())
    mentions: set[str] = set()
    flags: set[str] = set()
    model_segments = model_flagged = 0
    lang_parts: list[str] = []
    for role, text in _segments(rec):
        norm = _normalize(text)
        mentions |= m.mentions(norm)
        if role != "system":
            lang_parts.append(text)
        if role == "rejected":
            continue
        if role == "text":   # pretraining text: its sentences are the model-output segments
            for sent in _SENT_RE.split(norm):
                if not sent.strip():
                    continue
                s = m.stereotypes(sent)
                model_segments += 1
                model_flagged += bool(s)
                flags |= s
            continue
        s = m.stereotypes(norm)
        flags |= s
        if role in MODEL_ROLES:
            model_segments += 1
            model_flagged += bool(s)
    lang, score = identify_language(" ".join(lang_parts))
    return {"group_mentions": sorted(mentions), "stereotype_flags": sorted(flags),
            "bias_score": round(model_flagged / model_segments, 3) if model_segments else 0.0,
            "language": lang, "language_score": score}


def bias_schema() -> Any:
    import pyarrow as pa

    return pa.schema([("group_mentions", pa.list_(pa.string())), ("stereotype_flags", pa.list_(pa.string())),
                      ("bias_score", pa.float64()), ("language", pa.string()), ("language_score", pa.float64())])


def bias_batch(batch: Any, **config: Any) -> Any:
    """Engine contract: ``pyarrow.RecordBatch`` with any of kind, messages, prompt, chosen, rejected,
    text -> a RecordBatch of the bias columns, same rows in the same order. ``config_path`` names a
    bias.yml other than the packaged one. Each row's result depends on that row only."""
    import pyarrow as pa

    cfg = load_bias_config(config.get("config_path"))
    cols = {name: batch.column(name).to_pylist() for name in ("messages", "prompt", "chosen", "rejected", "text")
            if name in batch.schema.names}
    rows = [record_bias({k: v[i] for k, v in cols.items()}, cfg) for i in range(batch.num_rows)]
    schema = bias_schema()
    return pa.RecordBatch.from_pydict({f.name: [r[f.name] for r in rows] for f in schema}, schema=schema)


# -- the aggregate report -----------------------------------------------------------------------
_PAYLOAD = ("messages", "prompt", "chosen", "rejected", "text")
_FEATURES = ("group_mentions", "stereotype_flags", "bias_score", "language")


def _flat(rec: Mapping[str, Any]) -> dict[str, Any]:
    meta = rec.get("metadata") if isinstance(rec.get("metadata"), Mapping) else {}
    out = {k: rec.get(k) for k in _PAYLOAD}
    for k in ("family", "split", "kind", "stage"):
        out[k] = rec.get(k, meta.get(k)) if rec.get(k) is not None else meta.get(k)
    out["family"] = out["family"] or meta.get("source_family") or "unknown"
    out["split"] = out["split"] or "unknown"
    src = rec if all(k in rec for k in ("group_mentions", "stereotype_flags", "language")) else (
        meta.get("bias") if isinstance(meta.get("bias"), Mapping) else None)
    if src is not None:
        out["_features"] = {k: src.get(k) for k in _FEATURES}
    # a row standing for several records with the same features (the exporter's grouped rows)
    out["_count"] = int(rec["record_count"]) if rec.get("record_count") is not None else 1
    return out


def _batched(records: Iterable[Mapping[str, Any]], n: int) -> Iterator[list[dict[str, Any]]]:
    buf: list[dict[str, Any]] = []
    for r in records:
        buf.append(_flat(r))
        if len(buf) >= n:
            yield buf
            buf = []
    if buf:
        yield buf


def _rate(k: int, n: int) -> float:
    return round(k / n, 4) if n else 0.0


class _Acc:
    def __init__(self) -> None:
        self.n = 0
        self.cat: Counter[str] = Counter()
        self.group: Counter[str] = Counter()
        self.flagged = 0
        self.flag_groups: Counter[str] = Counter()
        self.lang: Counter[str] = Counter()
        self.bias_milli = 0   # sum of bias_score in thousandths (scores have 3 decimals): exact, order-free

    def add(self, f: Mapping[str, Any], n: int = 1) -> None:
        """Count ``n`` records with the features ``f``."""
        self.n += n
        groups = set(f.get("group_mentions") or [])
        self.group.update(dict.fromkeys(groups, n))
        self.cat.update(dict.fromkeys({g.split(":", 1)[0] for g in groups}, n))
        flags = set(f.get("stereotype_flags") or [])
        self.flagged += n if flags else 0
        self.flag_groups.update(dict.fromkeys(flags, n))
        self.lang[str(f.get("language") or "und")] += n
        self.bias_milli += round(float(f.get("bias_score") or 0.0) * 1000) * n

    def mentions(self, categories: Sequence[str], groups_of: Mapping[str, list[str]]) -> dict[str, Any]:
        return {"records": self.n, "categories": {
            c: {"records": self.cat[c], "rate": _rate(self.cat[c], self.n),
                "groups": {g: {"records": self.group[f"{c}:{g}"], "rate": _rate(self.group[f"{c}:{g}"], self.n)}
                           for g in groups_of[c]}}
            for c in categories}}

    def stereotyping(self) -> dict[str, Any]:
        return {"records": self.n, "records_flagged": self.flagged, "rate": _rate(self.flagged, self.n),
                "mean_bias_score": round(self.bias_milli / 1000 / self.n, 4) if self.n else 0.0,
                "by_group": dict(sorted(self.flag_groups.items()))}

    def languages(self) -> dict[str, Any]:
        return {"records": self.n, "counts": dict(sorted(self.lang.items())),
                "shares": {k: _rate(v, self.n) for k, v in sorted(self.lang.items())}}


def bias_report(records: Iterable[Mapping[str, Any]], baseline: Mapping[str, Any] | None = None, *,
                release: str | None = None, config: BiasConfig | None = None, batch_size: int = 512) -> dict[str, Any]:
    """The bias and cultural-competency report of a set of records (JSON-ready, deterministic for a
    given set of records whatever their order). ``records`` are release JSON lines (``metadata`` +
    payload) or flat dicts with family/split and the payload; precomputed bias columns (top level or
    ``metadata.bias``) are used when present, and a ``record_count`` field makes one row stand for
    that many records with the same family, split and features (what the exporter streams: the
    build's per-record columns grouped in SQL, never text). ``baseline`` is an earlier report (a
    release's reports/bias.json): the result then has the change against it."""
    cfg = config or load_bias_config()
    groups_of: dict[str, list[str]] = defaultdict(list)
    for g in cfg.groups:
        groups_of[g.category].append(g.name)
    accs: dict[tuple[str, str], _Acc] = defaultdict(_Acc)
    for chunk in _batched(records, batch_size):
        for rec in chunk:
            feats = rec.get("_features") or record_bias(rec, cfg)
            for key in (("overall", ""), ("family", rec["family"]), ("split", rec["split"]),
                        ("family_split", f"{rec['family']}\t{rec['split']}")):
                accs[key].add(feats, rec["_count"])
    overall = accs[("overall", "")]

    def dim(name: str) -> list[tuple[str, _Acc]]:
        return sorted((k[1], a) for k, a in accs.items() if k[0] == name)

    cats = list(cfg.categories)
    fam_split: dict[str, dict[str, Any]] = {}
    for key, a in dim("family_split"):
        fam, split = key.split("\t", 1)
        fam_split.setdefault(fam, {})[split] = {
            "records": a.n, "category_rates": {c: _rate(a.cat[c], a.n) for c in cats},
            "stereotype_rate": _rate(a.flagged, a.n)}
    report: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "release": release,
        "lexicon": {"version": cfg.version, "sha256": cfg.config_hash},
        "language_id": language_id_version(),
        "records": overall.n,
        "categories": {c: groups_of[c] for c in cats},
        "mention_rates": {
            "overall": overall.mentions(cats, groups_of),
            "by_family": {k: a.mentions(cats, groups_of) for k, a in dim("family")},
            "by_split": {k: a.mentions(cats, groups_of) for k, a in dim("split")},
            "by_family_split": fam_split,
        },
        "stereotyping": {
            "overall": overall.stereotyping(),
            "by_family": {k: a.stereotyping() for k, a in dim("family")},
            "by_split": {k: a.stereotyping() for k, a in dim("split")},
        },
        "language": {
            "overall": overall.languages(),
            "by_family": {k: a.languages() for k, a in dim("family")},
            "by_split": {k: a.languages() for k, a in dim("split")},
        },
        "baseline": None,
    }
    report["baseline"] = compare_reports(report, baseline) if baseline else None
    return report


def _delta(new: float | None, old: float | None) -> float | None:
    if new is None or old is None:
        return None
    return round(float(new) - float(old), 4)


def compare_reports(current: Mapping[str, Any], baseline: Mapping[str, Any]) -> dict[str, Any]:
    """Change of each rate from ``baseline`` to ``current`` (current - baseline; None where one side lacks it)."""
    def cat_rates(rep: Mapping[str, Any], scope: str, key: str | None) -> dict[str, float]:
        mr = rep.get("mention_rates") or {}
        node = mr.get("overall") if scope == "overall" else (mr.get(scope) or {}).get(key or "")
        return {c: v.get("rate") for c, v in ((node or {}).get("categories") or {}).items()}

    def st_rate(rep: Mapping[str, Any], scope: str, key: str | None) -> float | None:
        st = rep.get("stereotyping") or {}
        node = st.get("overall") if scope == "overall" else (st.get(scope) or {}).get(key or "")
        return (node or {}).get("rate")

    def shares(rep: Mapping[str, Any]) -> dict[str, float]:
        return dict((((rep.get("language") or {}).get("overall") or {}).get("shares") or {}))

    fams = sorted(set((current.get("mention_rates") or {}).get("by_family") or {})
                  | set((baseline.get("mention_rates") or {}).get("by_family") or {}))
    cats = sorted(set(cat_rates(current, "overall", None)) | set(cat_rates(baseline, "overall", None)))

    def cat_delta(scope: str, key: str | None) -> dict[str, float | None]:
        a, b = cat_rates(current, scope, key), cat_rates(baseline, scope, key)
        return {c: _delta(a.get(c), b.get(c)) for c in cats}

    langs = sorted(set(shares(current)) | set(shares(baseline)))
    return {
        "release": baseline.get("release"),
        "records": {"current": current.get("records"), "baseline": baseline.get("records")},
        "lexicon_changed": (current.get("lexicon") or {}).get("sha256") != (baseline.get("lexicon") or {}).get("sha256"),
        "mention_rate_change": {"overall": cat_delta("overall", None),
                                "by_family": {f: cat_delta("by_family", f) for f in fams}},
        "stereotype_rate_change": {"overall": _delta(st_rate(current, "overall", None), st_rate(baseline, "overall", None)),
                                   "by_family": {f: _delta(st_rate(current, "by_family", f), st_rate(baseline, "by_family", f))
                                                 for f in fams}},
        "language_share_change": {lang: round(shares(current).get(lang, 0.0) - shares(baseline).get(lang, 0.0), 4)
                                  for lang in langs},
    }


def load_bias_report(storage: Any, version: str) -> dict[str, Any]:
    """A published release's bias report (for ``bias_baseline_release``); a clear error when missing."""
    import json

    from lakehouse.review.release import ReviewError, find_bias_report, manifest_of

    manifest, _ = manifest_of(storage, version)
    found = find_bias_report(storage, version, manifest)
    if found is None:
        raise ReviewError(f"release {version} has no bias report (reports/bias.json); run `lakehouse qa bias {version}` "
                          "or leave bias_baseline_release empty")
    return json.loads(found[1])
