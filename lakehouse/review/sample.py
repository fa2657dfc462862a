"""``lakehouse qa sample``: a deterministic, stratified review packet of a published release.

Per family (the record's curriculum ``family``) the sample is drawn in strata, each by ascending
``sha256(seed:record_id)`` (so the draw depends on the seed and the record ids only, never on file
order or on other families). A record belongs to the first stratum it qualifies for, in this order:

1. ``crisis``: a crisis disclosure (``metadata.quality``, else the safety lexicon), ``crisis_share``
   of the family's quota;
2. ``stereotype``: a stereotyping flag (``metadata.bias.stereotype_flags`` non-empty or
   ``metadata.bias.bias_score`` > 0, lakehouse.review.bias), ``stereotype_share``;
3. ``near_threshold``: a quality score within ``near_threshold_margin`` of its threshold,
   ``near_threshold_share``;
4. ``random``: any other record, for the rest of the quota.

Unused quota rolls over: a stratum with too few records leaves its share to the uniform draw, and
flagged records left over fill what the uniform draw could not. The packet lists each family's
records in that stratum order (rolled-over records last). Memory is bounded by families x strata x
quota (a bottom-k heap per stratum), not by the release size.

Quarantined records (reason codes a ``release`` verdict may override) can be added per source
family; their text is rebuilt from the quarantined raw record and run through the redactor
(``lakehouse.privacy``) before it is shown. Released records are shown as published (redacted).

Writes, under ``reviews/<version>/`` (outside the immutable release): ``qa_samples.csv`` (ids, flags,
empty rubric/verdict/notes columns; never text), ``index.html`` (one printable page per record) and
``sample.json`` (parameters, rubric version, sha256 of both files).
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from lakehouse.review.config import Rubric, load_rubric
from lakehouse.review.release import ReviewError, iter_release_records, manifest_of, resolve_version, review_key
from lakehouse.storage import QUARANTINE_PREFIX, Storage

log = logging.getLogger(__name__)

SAMPLE_CSV = "qa_samples.csv"
SAMPLE_HTML = "index.html"
SAMPLE_JSON = "sample.json"
STRATA = ("crisis", "stereotype", "near_threshold", "random")   # precedence and packet order
ID_COLUMNS = ["release", "record_id", "content_hash", "status", "family", "source_family", "stage", "split", "kind",
              "stratum", "crisis", "near_threshold", "is_training_edge_case", "pii_status", "quarantine_reason_code",
              "stereotype_flags", "quality"]


@dataclass
class SampledRecord:
    record_id: str
    content_hash: str
    status: str                  # released | quarantined
    family: str
    source_family: str
    stage: Any
    split: str
    kind: str
    stratum: str
    crisis: bool
    near_threshold: bool
    is_training_edge_case: bool
    pii_status: str
    quarantine_reason_code: str
    quality: dict[str, Any]
    priority: str
    payload: dict[str, Any] = field(default_factory=dict)   # redacted messages / prompt / chosen / rejected / text
    stereotype_flags: list[str] = field(default_factory=list)
    quarantine_reason: str = ""
    stereotype: bool = False     # stereotype_flags non-empty or bias_score > 0 (metadata.bias)


@dataclass
class SampleResult:
    version: str
    records: list[SampledRecord]
    keys: dict[str, str]
    by_family: dict[str, int]
    unchanged: bool = False


def priority(seed: int, record_id: str) -> str:
    return hashlib.sha256(f"{seed}:{record_id}".encode()).hexdigest()


def registry_rows(project_dir: str | Path | None = None) -> dict[str, dict[str, str]]:
    """seeds/release/dataset_registry.csv by family (empty when the project folder is not found)."""
    if project_dir is None:
        from lakehouse.cli import project_dir as _pd

        project_dir = _pd()
    path = Path(project_dir) / "seeds" / "release" / "dataset_registry.csv"
    if not path.exists():
        return {}
    with open(path, newline="") as f:
        return {row["family"]: row for row in csv.DictReader(f)}


def _truthy(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("1", "true", "yes", "y", "t")
    if isinstance(v, (list, tuple, dict)):
        return bool(v)
    return bool(v)


def _thresholds(rubric: Rubric, registry: Mapping[str, Mapping[str, str]], family: str) -> dict[str, float]:
    out = {k: float(v) for k, v in (rubric.sampling.get("quality_thresholds") or {}).items()}
    for col, val in (registry.get(family) or {}).items():
        name = col[4:] if col.startswith("min_") else col[:-4] if col.endswith("_min") else None
        if name and name not in ("turns", "chars") and val not in (None, ""):
            try:
                out[name] = float(val)
            except ValueError:
                pass
    return out


def _scores(quality: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in quality.items():
        if isinstance(v, bool):
            continue
        if isinstance(v, (int, float)):
            out[prefix + k] = float(v)
        elif isinstance(v, Mapping):
            out.update(_scores(v, prefix + k + "."))
    return out


def near_threshold(quality: Mapping[str, Any], thresholds: Mapping[str, float], margin: float) -> bool:
    scores = _scores(quality)
    return any(name in scores and abs(scores[name] - t) <= margin for name, t in thresholds.items())


class _CrisisLexicon:
    """Crisis disclosure from lakehouse.safety's lexicon, for releases without metadata.quality."""

    def __init__(self) -> None:
        self.checker: Any = None

    def __call__(self, rec: Mapping[str, Any]) -> bool:
        try:
            if self.checker is None:
                from lakehouse.safety.config import load_safety_config
                from lakehouse.safety.lexicon import get_safety_checker

                self.config = load_safety_config()
                self.checker = get_safety_checker(self.config)
            from lakehouse.safety.lexicon import check_conversations

            conv = (rec.get("messages") or rec.get("prompt") or [])
            if not conv and isinstance(rec.get("text"), str):
                conv = [{"role": "user", "content": rec["text"]}]
            return bool(check_conversations([conv], self.checker, self.config)[0].crisis)
        except Exception as e:  # a safety config problem must not stop sampling; say so once
            log.warning("crisis lexicon unavailable (%s): crisis stratum from metadata only", e.__class__.__name__)
            self.checker = False
            return False


def crisis_flag(meta: Mapping[str, Any], rec: Mapping[str, Any], lexicon: _CrisisLexicon) -> bool:
    q = meta.get("quality") if isinstance(meta.get("quality"), Mapping) else {}
    for src in (q, (q or {}).get("safety") or {}, meta):
        if isinstance(src, Mapping):
            for k in ("crisis_disclosure", "safety_crisis", "crisis"):
                if k in src:
                    return _truthy(src[k])
    if lexicon.checker is False:
        return False
    return lexicon(rec)


def _bias(meta: Mapping[str, Any]) -> Mapping[str, Any]:
    b = meta.get("bias")
    return b if isinstance(b, Mapping) else {}


def stereotype_flag(meta: Mapping[str, Any]) -> bool:
    """Does the released record carry a stereotyping signal (metadata.bias, lakehouse.review.bias)?"""
    b = _bias(meta)
    score = b.get("bias_score")
    return bool(b.get("stereotype_flags")) or (
        isinstance(score, (int, float)) and not isinstance(score, bool) and score > 0)


def _payload(rec: Mapping[str, Any]) -> dict[str, Any]:
    return {k: rec[k] for k in ("messages", "prompt", "chosen", "rejected", "text", "label") if rec.get(k) is not None}


def _quotas(per_family: int, rubric: Rubric) -> list[tuple[str, int]]:
    def share(name: str, default: float) -> int:
        return int(round(per_family * float(rubric.sampling.get(name, default))))

    return [("crisis", share("crisis_share", 0.4)), ("stereotype", share("stereotype_share", 0.2)),
            ("near_threshold", share("near_threshold_share", 0.3)), ("random", per_family)]


def _draw_released(storage: Storage, version: str, manifest: dict[str, Any], per_family: int, seed: int,
                   rubric: Rubric, registry: Mapping[str, Mapping[str, str]]) -> list[SampledRecord]:
    margin = float(rubric.sampling.get("near_threshold_margin", 0.1))
    lexicon = _CrisisLexicon()
    # per (family, stratum): a max-heap (negated priority order) of the per_family smallest priorities
    heaps: dict[tuple[str, str], list[tuple[str, int, SampledRecord]]] = {}
    counter = 0
    for rec in iter_release_records(storage, version, manifest):
        meta = rec.get("metadata") or {}
        rid = str(meta.get("record_id") or "")
        if not rid:
            continue
        fam = str(meta.get("family") or meta.get("source_family") or "unknown")
        q = meta.get("quality") if isinstance(meta.get("quality"), Mapping) else {}
        crisis = crisis_flag(meta, rec, lexicon)
        stereo = stereotype_flag(meta)
        near = bool(q) and near_threshold(q, _thresholds(rubric, registry, fam), margin)
        stratum = ("crisis" if crisis else "stereotype" if stereo else "near_threshold" if near else "random")
        pr = priority(seed, rid)
        key = (fam, stratum)
        heap = heaps.setdefault(key, [])
        inv = "".join("%x" % (15 - int(c, 16)) for c in pr)   # max-heap on priority via inverted hex
        if len(heap) >= per_family and inv <= heap[0][0]:
            continue
        sr = SampledRecord(
            record_id=rid, content_hash=str(meta.get("content_hash") or ""), status="released", family=fam,
            source_family=str(meta.get("source_family") or fam), stage=meta.get("stage"),
            split=str(meta.get("split") or ""), kind=str(meta.get("kind") or ""), stratum=stratum, crisis=crisis,
            near_threshold=near, is_training_edge_case=_truthy(meta.get("is_training_edge_case")),
            pii_status=str(meta.get("pii_status") or ""), quarantine_reason_code="", quality=dict(q or {}),
            priority=pr, payload=_payload(rec),
            stereotype_flags=[str(f) for f in _bias(meta).get("stereotype_flags") or []], stereotype=stereo)
        counter += 1
        item = (inv, counter, sr)
        if len(heap) < per_family:
            heapq.heappush(heap, item)
        else:
            heapq.heapreplace(heap, item)
    out: list[SampledRecord] = []
    for fam in sorted({k[0] for k in heaps}):
        pools = {s: sorted((it[2] for it in heaps.get((fam, s), [])), key=lambda r: r.priority) for s in STRATA}
        chosen: list[SampledRecord] = []
        left = per_family
        for stratum, quota in _quotas(per_family, rubric):
            take = pools[stratum][: min(quota, left)]
            pools[stratum] = pools[stratum][len(take):]
            chosen += take
            left -= len(take)
        if left > 0:  # roll over: remaining flagged records fill what the uniform pool could not
            rest = sorted((r for s in STRATA if s != "random" for r in pools[s]), key=lambda r: r.priority)
            chosen += rest[:left]
        out += chosen
    return out


def _quarantine_table(storage: Storage) -> Any:
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return DeltaTable(storage.uri(QUARANTINE_PREFIX, "records"), storage_options=storage.delta_storage_options())
    except TableNotFoundError:
        return None


def _rebuild(row: Mapping[str, Any]) -> dict[str, Any]:
    """The converted payload of a quarantined record (its raw record through lakehouse.shapes)."""
    payload = {k: row[k] for k in ("messages", "prompt", "chosen", "rejected", "text") if row.get(k) is not None}
    if payload:
        return payload
    try:
        from lakehouse.shapes import ShapeOptions, convert

        raw = json.loads(row.get("raw_record") or "null")
        shape = str(row.get("shape") or "")
        if isinstance(raw, list):   # utterance rows grouped into one conversation
            from lakehouse.shapes import convert_group

            conv = convert_group([r for r in raw if isinstance(r, dict)], ShapeOptions())
        else:
            conv = convert(raw, shape, ShapeOptions())
        c = conv[0] if conv else None
    except Exception:
        c = None
    if c is None:
        return {}
    return {k: getattr(c, k) for k in ("messages", "prompt", "chosen", "rejected", "text") if getattr(c, k) is not None}


def redact_payloads(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run the pipeline's redactor over quarantined payloads (never shown raw)."""
    from lakehouse.privacy import get_redactor

    red = get_redactor()
    out: list[dict[str, Any]] = [dict(p) for p in payloads]
    convs, idx = [], []
    for i, p in enumerate(payloads):
        if p.get("messages") is not None:
            convs.append(p["messages"])
            idx.append((i, "messages", None))
        elif p.get("prompt") is not None or p.get("chosen") is not None:
            parts = [list(p.get("prompt") or []), list(p.get("chosen") or []), list(p.get("rejected") or [])]
            convs.append(parts[0] + parts[1] + parts[2])
            idx.append((i, "preference", [len(x) for x in parts]))
    for (i, what, lens), res in zip(idx, red.redact_conversations(convs) if convs else []):
        msgs = res.messages or []
        if what == "messages":
            out[i]["messages"] = msgs
        else:
            a, b, _ = lens
            out[i]["prompt"], out[i]["chosen"], out[i]["rejected"] = msgs[:a], msgs[a:a + b], msgs[a + b:]
        out[i]["_pii_status"] = res.pii_status
    texts = [(i, p["text"]) for i, p in enumerate(payloads) if isinstance(p.get("text"), str)]
    for (i, _), res in zip(texts, red.redact_texts([t for _, t in texts]) if texts else []):
        out[i]["text"] = res.text
        out[i]["_pii_status"] = res.pii_status
    return out


def _draw_quarantined(storage: Storage, per_family: int, seed: int, rubric: Rubric, version: str) -> list[SampledRecord]:
    if per_family <= 0:
        return []
    dt = _quarantine_table(storage)
    if dt is None:
        return []
    names = set(dt.schema().to_arrow().names) if hasattr(dt.schema(), "to_arrow") else set()
    want = [c for c in ("record_id", "source_family", "kind", "reason_code", "quarantine_reason", "shape",
                        "raw_record", "is_training_edge_case", "messages", "prompt", "chosen", "rejected", "text")
            if not names or c in names]
    table = dt.to_pyarrow_table(columns=want)
    cols = table.select([c for c in ("record_id", "source_family", "reason_code") if c in table.column_names]).to_pylist()
    heaps: dict[str, list[tuple[str, int]]] = {}
    for i, r in enumerate(cols):
        if not rubric.overridable(r.get("reason_code")):
            continue
        pr = priority(seed, str(r["record_id"]))
        heaps.setdefault(str(r.get("source_family") or "unknown"), []).append((pr, i))
    picks = sorted(i for fam in heaps for _, i in sorted(heaps[fam])[:per_family])
    if not picks:
        return []
    rows = table.take(picks).to_pylist()
    payloads = redact_payloads([_rebuild(r) for r in rows])
    out = []
    for r, p in zip(rows, payloads):
        status = p.pop("_pii_status", "")
        fam = str(r.get("source_family") or "unknown")
        out.append(SampledRecord(
            record_id=str(r["record_id"]), content_hash="", status="quarantined", family=fam, source_family=fam,
            stage=None, split="", kind=str(r.get("kind") or ""), stratum="quarantined", crisis=False,
            near_threshold=False, is_training_edge_case=_truthy(r.get("is_training_edge_case")),
            pii_status=status, quarantine_reason_code=str(r.get("reason_code") or ""), quality={},
            priority=priority(seed, str(r["record_id"])), payload=p,
            quarantine_reason=str(r.get("quarantine_reason") or "")))
    out.sort(key=lambda s: (s.family, s.priority))
    return out


def _csv_bytes(version: str, records: list[SampledRecord], rubric: Rubric) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(ID_COLUMNS + rubric.item_ids + ["verdict", "notes"])
    for r in records:
        w.writerow([version, r.record_id, r.content_hash, r.status, r.family, r.source_family,
                    "" if r.stage is None else r.stage, r.split, r.kind, r.stratum, str(r.crisis).lower(),
                    str(r.near_threshold).lower(), str(r.is_training_edge_case).lower(), r.pii_status,
                    r.quarantine_reason_code, ";".join(r.stereotype_flags),
                    json.dumps(r.quality, sort_keys=True) if r.quality else ""]
                   + [""] * len(rubric.items) + ["", ""])
    return buf.getvalue().encode("utf-8")


def read_sample(storage: Storage, version: str) -> list[dict[str, str]] | None:
    """The rows of reviews/<version>/qa_samples.csv, or None when no sample was drawn."""
    key = review_key(version, SAMPLE_CSV)
    if not storage.exists(key):
        return None
    return list(csv.DictReader(io.StringIO(storage.read_bytes(key).decode("utf-8"))))


def draw_sample(storage: Storage, version: str, *, per_family: int | None = None, seed: int = 42,
                quarantined_per_family: int | None = None, rubric: Rubric | None = None,
                project_dir: str | Path | None = None, force: bool = False) -> SampleResult:
    """Draw and write the review packet of a release (see the module doc)."""
    from lakehouse.review.html import render_packet

    rubric = rubric or load_rubric()
    version = resolve_version(storage, version)
    manifest, manifest_sha = manifest_of(storage, version)
    per_family = int(per_family if per_family is not None else rubric.sampling.get("per_family", 20))
    qpf = int(quarantined_per_family if quarantined_per_family is not None
              else rubric.sampling.get("quarantined_per_family", 5))
    if per_family < 1:
        raise ReviewError("--per-family must be at least 1")
    registry = registry_rows(project_dir)
    records = _draw_released(storage, version, manifest, per_family, seed, rubric, registry)
    records += _draw_quarantined(storage, qpf, seed, rubric, version)
    csv_bytes = _csv_bytes(version, records, rubric)
    html_bytes = render_packet(version, records, rubric,
                               max_chars=int(rubric.sampling.get("max_chars_per_message", 6000))).encode("utf-8")
    meta = {"release": version, "manifest_sha256": manifest_sha, "seed": seed, "per_family": per_family,
            "quarantined_per_family": qpf, **rubric.provenance,
            "records": len(records), "by_family": _count(records, lambda r: r.family),
            "by_stratum": _count(records, lambda r: r.stratum),
            "files": {SAMPLE_CSV: hashlib.sha256(csv_bytes).hexdigest(),
                      SAMPLE_HTML: hashlib.sha256(html_bytes).hexdigest()}}
    keys = {name: review_key(version, name) for name in (SAMPLE_CSV, SAMPLE_HTML, SAMPLE_JSON)}
    if storage.exists(keys[SAMPLE_CSV]):
        old = storage.read_bytes(keys[SAMPLE_CSV])
        if old == csv_bytes:
            return SampleResult(version, records, keys, meta["by_family"], unchanged=True)
        if not force:
            raise ReviewError(f"a different review sample of {version} exists at {storage.uri(keys[SAMPLE_CSV])} "
                              "(other seed or size, or the quarantine changed): give --force to replace it; decisions "
                              "already recorded stay in reviews/decisions")
    storage.write_bytes(keys[SAMPLE_HTML], html_bytes)
    storage.write_bytes(keys[SAMPLE_CSV], csv_bytes)
    storage.write_bytes(keys[SAMPLE_JSON], (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    log.info("review sample of %s: %d records, csv sha256 %s", version, len(records), meta["files"][SAMPLE_CSV][:12])
    return SampleResult(version, records, keys, meta["by_family"])


def _count(records: Iterable[SampledRecord], key: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in records:
        out[key(r)] = out.get(key(r), 0) + 1
    return dict(sorted(out.items()))
