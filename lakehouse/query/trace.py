"""A record's story, from the landed file to the releases that contain it (``lakehouse trace``).

Looks a record up by ``record_id`` or by ``content_hash`` (a full hash or a unique prefix of at
least 8 hex characters) in the lakehouse views, and gathers: provenance (source, family, license,
file, row and line, landing), every transformation it went through (shape, conversion, repairs,
privacy, hashing, dedup decision with the survivor's own provenance, quarantine), its split,
phase and stage, and the releases that hold it. Message text is left out unless asked for.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from lakehouse.query.sql import QuerySession
from lakehouse.query.views import BUILD_HINT, RAW_VIEW_PREFIX, ident
from lakehouse.storage import Storage

HASH_ARG_RE = re.compile(r"^[0-9a-f]{8,64}$")
# columns holding conversation text: never gathered unless --show-text (raw text: never)
TEXT_COLUMNS = frozenset({"messages", "prompt", "chosen", "rejected", "text", "raw_record", "record"})
CONTENT_COLUMNS = ("messages", "prompt", "chosen", "rejected", "text", "label")
SOURCE_FIELDS = {"source_name": "name", "source_family": "family", "license_tag": "license", "source_key": "key",
                 "file_sha256": "file_sha256", "row_number": "row_number", "line_number": "line_number",
                 "sub_index": "sub_index"}
KNOWN_COLUMNS = frozenset(SOURCE_FIELDS) | {
    "record_id", "kind", "landing_id", "landed_at", "shape", "is_training_edge_case", "content_hash", "is_released",
    "duplicate_of", "duplicate_kind", "split", "phase", "stage", "pii_status", "pii_redactions", "n_turns", "n_chars",
    "repairs", "quarantine_reason", "reason_code", "provenance", "input_format", "label", "dedup_hash", "quality",
    "stereotype_flags", "bias_score"}
# quarantine reason codes decided from the scores (macros/gates/gate_quality.sql)
SCORE_REASON_PREFIXES = ("quality:", "safety:")
_SAFE_EXTRA_NAME = re.compile(r"(_id|_ids|_kind|_status|_code|_reason|_hash|_tag|_score|_jaccard|_flag|_version|"
                              r"cluster|stage|phase|family|route|rank|count|^n_|^is_|^has_)", re.IGNORECASE)
_TEXTY_NAME = re.compile(r"(text|content|message|prompt|chosen|rejected|record$|turns?$|body|snippet)", re.IGNORECASE)


class TraceError(Exception):
    """The trace cannot be made; the message says why and what to run."""


class TraceNotFound(TraceError):
    pass


# -- small helpers ----------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _parse_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def redaction_counts(value: Any) -> dict[str, int] | None:
    """Redactions by type from a ``pii_redactions`` value: {type: n}, [{entity_type|type: ...}] or JSON text."""
    value = _parse_json(value)
    if value is None:
        return None
    counts: dict[str, int] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (int, float)):
                counts[str(k)] = counts.get(str(k), 0) + int(v)
            elif isinstance(v, (list, tuple)):
                counts[str(k)] = counts.get(str(k), 0) + len(v)
            elif isinstance(v, dict) and isinstance(v.get("count"), (int, float)):
                counts[str(k)] = counts.get(str(k), 0) + int(v["count"])
        return counts
    if isinstance(value, (list, tuple)):
        for item in value:
            if isinstance(item, dict):
                t = item.get("entity_type") or item.get("type") or item.get("label") or "unknown"
                n = item.get("count", 1)
                counts[str(t)] = counts.get(str(t), 0) + (int(n) if isinstance(n, (int, float)) else 1)
            elif isinstance(item, str):
                counts[item] = counts.get(item, 0) + 1
        return counts
    return None


def _safe_extra(columns: list[str], types: dict[str, str]) -> list[str]:
    """Extra columns (added by other steps) that are scalar and named like decisions, not text."""
    out = []
    for c in columns:
        if c in KNOWN_COLUMNS or c in TEXT_COLUMNS or _TEXTY_NAME.search(c):
            continue
        t = types.get(c, "").upper()
        if t.endswith("[]") or t.startswith(("STRUCT", "MAP", "UNION")):
            continue
        if t in ("VARCHAR", "JSON") and not _SAFE_EXTRA_NAME.search(c):
            continue
        out.append(c)
    return out


def _in(column: str, values: list[Any]) -> tuple[str, list[Any]]:
    """``column in (?, ...)`` (pushed down into delta_scan), or false for no values."""
    if not values:
        return "false", []
    return f"{ident(column)} in ({', '.join('?' for _ in values)})", list(values)


class _Lookup:
    """Parameterized reads of the views of one session (only non-text columns unless asked)."""

    def __init__(self, session: QuerySession) -> None:
        self.s = session
        self.types: dict[str, dict[str, str]] = {}
        self.memo: dict[tuple[Any, ...], Any] = {}   # landings and raw rows shared by several records
        self.conv: dict[str, dict[str, Any]] = {}     # conversations rows by record_id (prefetched)
        self.dups: dict[str, list[dict[str, Any]]] = {}
        self.quarantine: dict[str, dict[str, Any]] = {}
        self.releases: dict[str, list[dict[str, Any]]] = {}

    def has(self, view: str) -> bool:
        return view in self.s.views

    def column_types(self, view: str) -> dict[str, str]:
        if view not in self.types:
            rows = self.s.con.execute(f"describe {ident(view)}").fetchall() if self.has(view) else []
            self.types[view] = {r[0]: r[1] for r in rows}
        return self.types[view]

    def select(self, view: str, where: str, params: list[Any], *, text: bool = False,
               order: str | None = None) -> list[dict[str, Any]]:
        if not self.has(view):
            return []
        # the landed file name is shown only as the curated (redacted) form of conversations
        cols = [c for c in self.column_types(view) if (text or c not in TEXT_COLUMNS)
                and not (c == "source_key" and view != "conversations")]
        sql = f"select {', '.join(ident(c) for c in cols)} from {ident(view)} where {where}"
        if order:
            sql += f" order by {order}"
        return self.s.internal(sql, params)

    def conversations(self, where: str, params: list[Any]) -> list[dict[str, Any]]:
        types = self.column_types("conversations")
        order = ", ".join(c for c in ("landed_at", "source_name", "source_key", "row_number", "sub_index", "record_id")
                          if c in types)
        rows = self.select("conversations", where, params, order=order or None)
        rows.sort(key=lambda r: not r.get("is_released", False))   # survivors first, stable otherwise
        return rows


# -- gathering -------------------------------------------------------------------------------
def _match_hash(look: _Lookup, arg: str) -> tuple[list[dict[str, Any]], str]:
    types = look.column_types("conversations")
    hash_cols = [c for c in ("content_hash", "dedup_hash") if c in types]
    if not hash_cols:
        return [], arg
    if len(arg) == 64:
        where = " or ".join(f"{ident(c)} = ?" for c in hash_cols)
        params: list[Any] = [arg] * len(hash_cols)
    else:
        where = " or ".join(f"starts_with({ident(c)}, ?)" for c in hash_cols)
        params = [arg] * len(hash_cols)
    rows = look.conversations(where, params)
    full = {r.get(c) for r in rows for c in hash_cols if isinstance(r.get(c), str) and r[c].startswith(arg)}
    if len(full) > 1:
        raise TraceError(f"hash prefix {arg} is ambiguous: it matches {len(full)} hashes; give more characters")
    value = next(iter(full), arg)
    # exact copies that carry no hash of their own still name their survivor
    ids = [r["record_id"] for r in rows]
    if ids:
        if "duplicate_of" in types:
            where, params = _in("duplicate_of", ids)
            known = set(ids)
            rows += [r for r in look.conversations(where, params) if r["record_id"] not in known]
            rows.sort(key=lambda r: not r.get("is_released", False))
    return rows, value


def _prefetch(look: _Lookup, rows: list[dict[str, Any]]) -> None:
    """Batch reads for every record of a trace: related conversations, quarantine, landings, raw rows."""
    ids = [r["record_id"] for r in rows]
    look.conv.update({r["record_id"]: r for r in rows})
    if "duplicate_of" in look.column_types("conversations") and ids:
        survivors = sorted({r["duplicate_of"] for r in rows if r.get("duplicate_of")} - set(ids))
        w1, p1 = _in("record_id", survivors)
        w2, p2 = _in("duplicate_of", ids)
        for r in look.conversations(f"{w1} or {w2}", p1 + p2):
            look.conv.setdefault(r["record_id"], r)
        for rid in ids:
            look.dups[rid] = [r for r in look.conv.values() if r.get("duplicate_of") == rid]
    all_rows = list(look.conv.values())
    look.releases.update(_releases(look, sorted(look.conv)))
    where, params = _in("record_id", sorted(look.conv))
    look.quarantine.update({r["record_id"]: r for r in look.select("quarantine", where, params)})
    pairs = {(r.get("landing_id"), r.get("file_sha256")) for r in all_rows if r.get("landing_id")}
    if pairs and look.has("landings"):
        where, params = _in("landing_id", sorted({p[0] for p in pairs}))
        found = {(r["landing_id"], r["file_sha256"]): r for r in look.select("landings", where, params)}
        for pair in pairs:
            look.memo[("landing_row",) + pair] = found.get(pair, {})
    by_source: dict[Any, set[tuple[Any, Any]]] = {}
    for r in all_rows:
        if r.get("source_name") and r.get("row_number") is not None:
            by_source.setdefault(r["source_name"], set()).add((r.get("file_sha256"), r["row_number"]))
    for source, keys in by_source.items():
        view = f"{RAW_VIEW_PREFIX}{source}"
        if not look.has(view):
            continue
        w1, p1 = _in("file_sha256", sorted({k[0] for k in keys}))
        w2, p2 = _in("row_number", sorted({k[1] for k in keys}))
        got = {(r["file_sha256"], r["row_number"]): r for r in _raw_rows(look, view, f"{w1} and {w2}", p1 + p2)}
        for k in keys:
            look.memo[("raw", source) + k] = {c: v for c, v in got.get(k, {}).items()
                                              if c not in ("file_sha256", "row_number")}


def _raw_rows(look: _Lookup, view: str, where: str, params: list[Any]) -> list[dict[str, Any]]:
    cols = look.column_types(view)
    want = [c for c in ("file_sha256", "row_number", "line_number", "input_format", "shape", "shape_options",
                        "is_edge_case") if c in cols]
    if "file_sha256" not in want or "row_number" not in want:
        return []
    failed = ", parse_error is not null as parse_failed" if "parse_error" in cols else ""
    return look.s.internal(f"select {', '.join(ident(c) for c in want)}{failed} from {ident(view)} where {where}",
                           params)


def _landing(look: _Lookup, landing_id: Any, file_sha256: Any) -> dict[str, Any]:
    key = ("landing", landing_id, file_sha256)
    if key not in look.memo:
        look.memo[key] = _landing_uncached(look, landing_id, file_sha256)
    return dict(look.memo[key])


def _landing_uncached(look: _Lookup, landing_id: Any, file_sha256: Any) -> dict[str, Any]:
    if not landing_id or not look.has("landings"):
        return {"landing_id": landing_id}
    row = look.memo.get(("landing_row", landing_id, file_sha256))
    if row is None:
        rows = look.select("landings", "landing_id = ? and file_sha256 = ?", [landing_id, file_sha256])
        row = rows[0] if rows else {}
    out = {"landing_id": landing_id, "landed_at": row.get("landed_at")}
    for k in ("input_format", "shape", "shape_reason", "rows_read", "parse_errors", "file_bytes", "package_version"):
        if k in row:
            out[k] = row[k]
    return out


def _raw_row(look: _Lookup, source: Any, file_sha256: Any, row_number: Any) -> dict[str, Any]:
    key = ("raw", source, file_sha256, row_number)
    if key not in look.memo:
        look.memo[key] = _raw_row_uncached(look, source, file_sha256, row_number)
    return dict(look.memo[key])


def _raw_row_uncached(look: _Lookup, source: Any, file_sha256: Any, row_number: Any) -> dict[str, Any]:
    view = f"{RAW_VIEW_PREFIX}{source}"
    if not source or not look.has(view) or row_number is None:
        return {}
    rows = _raw_rows(look, view, "file_sha256 = ? and row_number = ?", [file_sha256, row_number])
    return {c: v for c, v in rows[0].items() if c not in ("file_sha256", "row_number")} if rows else {}


def _provenance(look: _Lookup, row: dict[str, Any]) -> dict[str, Any]:
    prov = row.get("provenance")
    flat = dict(row)
    if isinstance(_parse_json(prov), dict):
        for k, v in _parse_json(prov).items():
            flat.setdefault(k, v)
    source = {label: flat.get(col) for col, label in SOURCE_FIELDS.items() if col in flat}
    raw = _raw_row(look, flat.get("source_name"), flat.get("file_sha256"), flat.get("row_number"))
    if source.get("line_number") is None and raw.get("line_number") is not None:
        source["line_number"] = raw["line_number"]
    landing = _landing(look, flat.get("landing_id"), flat.get("file_sha256"))
    if landing.get("landed_at") is None:
        landing["landed_at"] = flat.get("landed_at")
    if raw.get("input_format") and "input_format" not in landing:
        landing["input_format"] = raw["input_format"]
    return {"source": source, "landing": landing, "raw": raw}


def _releases(look: _Lookup, record_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {r: [] for r in record_ids}
    if not record_ids or not look.has("release_records"):
        return out
    where, params = _in("record_id", record_ids)
    for r in look.s.internal("select version, record_id, split, shard_key from release_records "
                             f"where {where} order by version, record_id", params):
        out.setdefault(r["record_id"], []).append({"version": r["version"], "split": r.get("split"),
                                                   "shard_key": r.get("shard_key")})
    return out


def _brief(look: _Lookup, row: dict[str, Any]) -> dict[str, Any]:
    """Another record's identity and provenance (the survivor, or a duplicate)."""
    p = _provenance(look, row)
    return {"record_id": row.get("record_id"), "is_released": row.get("is_released"),
            "duplicate_kind": row.get("duplicate_kind"), "source": p["source"], "landing": p["landing"]}


def _quarantine(look: _Lookup, record_id: str) -> dict[str, Any] | None:
    if record_id in look.conv or record_id in look.quarantine:    # prefetched
        return look.quarantine.get(record_id)
    rows = look.select("quarantine", "record_id = ?", [record_id])
    return rows[0] if rows else None


def _steps(row: dict[str, Any], prov: dict[str, Any], q: dict[str, Any] | None, dedup: dict[str, Any] | None,
           releases: list[dict[str, Any]], content_releases: list[dict[str, Any]],
           has_release_index: bool) -> list[dict[str, Any]]:
    landing, raw = prov["landing"], prov["raw"]
    steps: list[dict[str, Any]] = [
        {"step": "landed", "landing_id": landing.get("landing_id"), "landed_at": landing.get("landed_at"),
         "input_format": landing.get("input_format"), "rows_read": landing.get("rows_read"),
         "parse_failed": raw.get("parse_failed")},
        {"step": "shape_detected", "shape": row.get("shape") or landing.get("shape") or raw.get("shape"),
         "reason": landing.get("shape_reason"), "options": _parse_json(raw.get("shape_options"))},
    ]
    if row.get("kind") or "n_turns" in row:
        steps.append({"step": "converted", "kind": row.get("kind"), "n_turns": row.get("n_turns"),
                      "n_chars": row.get("n_chars"), "sub_index": row.get("sub_index"),
                      "is_training_edge_case": row.get("is_training_edge_case")})
    if "repairs" in row:
        steps.append({"step": "repaired", "repairs": _parse_json(row.get("repairs")) or {}})
    scored = _scored(row, q)
    if scored is not None:
        steps.append(scored)
    if q is not None:
        steps.append({"step": "quarantined", "reason_code": q.get("reason_code"),
                      "reason": q.get("quarantine_reason")})
    if "pii_status" in row or "pii_redactions" in row:
        steps.append({"step": "privacy", "pii_status": row.get("pii_status"),
                      "redactions": redaction_counts(row.get("pii_redactions")) if "pii_redactions" in row else None})
    if row.get("content_hash") or row.get("dedup_hash"):
        steps.append({"step": "hashed", "content_hash": row.get("content_hash"), "dedup_hash": row.get("dedup_hash")})
    if dedup is not None:
        steps.append({"step": "dedup", **dedup})
    if row.get("split") or row.get("phase"):
        steps.append({"step": "split", "split": row.get("split"), "phase": row.get("phase"), "stage": row.get("stage")})
    steps.append({"step": "released", "releases": releases if has_release_index else None,
                  "content_released_as": content_releases})
    return steps


def _scored(row: dict[str, Any], q: dict[str, Any] | None) -> dict[str, Any] | None:
    """The clinical quality step: the record's scores (metadata.quality, lakehouse.quality) and bias
    signals, and when it was quarantined on them, the threshold it failed (the reason's detail, e.g.
    ``empathy 0.325 < 0.7``)."""
    src = row if row.get("quality") is not None else (q or {})
    quality = _parse_json(src.get("quality"))
    if quality is None and src.get("stereotype_flags") is None and src.get("bias_score") is None:
        return None
    out: dict[str, Any] = {"step": "scored", "quality": quality}
    if src.get("bias_score") is not None or src.get("stereotype_flags"):
        out["bias"] = {"bias_score": src.get("bias_score"), "stereotype_flags": list(src.get("stereotype_flags") or [])}
    reason = str((q or {}).get("quarantine_reason") or "")
    if reason.startswith(SCORE_REASON_PREFIXES):
        code, _, detail = reason.partition(" ")
        out["failed"] = {"reason_code": code, "threshold": detail or None}
    return out


def _dedup(look: _Lookup, row: dict[str, Any]) -> dict[str, Any] | None:
    if "duplicate_of" not in row and "is_released" not in row:
        return None
    rid = row["record_id"]
    survivor_id = row.get("duplicate_of")
    out: dict[str, Any] = {"decision": "duplicate" if survivor_id else "survivor",
                           "duplicate_of": survivor_id, "duplicate_kind": row.get("duplicate_kind")}
    if survivor_id:
        surv = [look.conv[survivor_id]] if survivor_id in look.conv else look.conversations("record_id = ?", [survivor_id])
        out["survivor"] = _brief(look, surv[0]) if surv else {"record_id": survivor_id}
    if rid in look.dups:
        dups = look.dups[rid]
    else:
        dups = look.conversations("duplicate_of = ?", [rid]) if "duplicate_of" in row else []
    out["duplicates"] = [_brief(look, d) for d in dups]
    return out


def _content(look: _Lookup, record_id: str) -> dict[str, Any] | None:
    cols = [c for c in CONTENT_COLUMNS if c in look.column_types("conversations")]
    if not cols:
        return None
    rows = look.s.internal(f"select {', '.join(ident(c) for c in cols)} from conversations where record_id = ?",
                           [record_id])
    if not rows:
        return None
    return {k: v for k, v in rows[0].items() if v is not None}


def _record(look: _Lookup, row: dict[str, Any], *, in_conversations: bool, show_text: bool) -> dict[str, Any]:
    rid = row["record_id"]
    prov = _provenance(look, row)
    q = _quarantine(look, rid)
    dedup = _dedup(look, row) if in_conversations else None
    wanted = [rid] + ([dedup["duplicate_of"]] if dedup and dedup.get("duplicate_of") else [])
    rel = {k: look.releases[k] for k in wanted if k in look.releases}
    missing = [k for k in wanted if k not in look.releases]
    if missing:
        rel.update(_releases(look, missing))
    own = rel.get(rid, [])
    via = []
    if dedup and dedup.get("duplicate_of"):
        via = [{**r, "record_id": dedup["duplicate_of"]} for r in rel.get(dedup["duplicate_of"], [])]
    if own:
        status = "released"
    elif q is not None:
        status = "quarantined"
    elif dedup and dedup.get("duplicate_of"):
        status = "duplicate"
    elif row.get("is_released"):
        status = "survivor (no release index yet)" if not look.has("release_records") else "survivor, not in a release"
    else:
        status = "not released"
    types = look.column_types("conversations" if in_conversations else "quarantine")
    extra = {c: row.get(c) for c in _safe_extra(list(row), types)}
    rec = {
        "record_id": rid, "kind": row.get("kind"), "status": status,
        "content_hash": row.get("content_hash"), "is_released": row.get("is_released"),
        "source": prov["source"], "landing": prov["landing"],
        "split": row.get("split"), "phase": row.get("phase"), "stage": row.get("stage"),
        "transformations": _steps(row, prov, q, dedup, own, via, look.has("release_records")),
        "releases": own, "extra": extra,
    }
    if show_text:
        rec["content"] = _content(look, rid) if in_conversations else None
    return rec


def _add_reviews(storage: Storage, records: list[dict[str, Any]], *, show_text: bool) -> None:
    """Clinician review decisions of each record (reviews/decisions, lakehouse.review); notes only with --show-text."""
    from lakehouse.review.record import load_decisions

    decisions = load_decisions(storage, record_ids=[r["record_id"] for r in records])
    keep = ("decision_id", "reviewer", "release", "verdict", "content_hash", "rubric_version", "recorded_at")
    for rec in records:
        mine = [d for d in decisions if d["record_id"] == rec["record_id"]]
        rec["reviews"] = [{**{k: d.get(k) for k in keep}, "rubric": _parse_json(d.get("rubric")),
                           **({"notes": d.get("notes")} if show_text else {})} for d in mine]
        if mine:
            rec["transformations"].append({"step": "reviewed", "decisions": "; ".join(
                f"{d['verdict']} by {d['reviewer']} on {d['release']} ({d['decision_id'][:12]})" for d in mine)})


def trace_record(storage: Storage, arg: str, *, show_text: bool = False) -> dict[str, Any]:
    """The trace of a record_id, or of every record sharing a content_hash (JSON-ready dict)."""
    arg = arg.strip()
    if not arg:
        raise TraceError("give a record_id or a content_hash")
    # the trace runs only its own parameterized reads, which leave out every text column
    # (TEXT_COLUMNS) except the curated (redacted) content with --show-text: it may read raw provenance
    with QuerySession(storage, allow_raw=True, audit=False) as session:
        look = _Lookup(session)
        if not look.has("conversations") and not look.has("quarantine"):
            raise TraceError(f"no curated tables under {storage.root}: {BUILD_HINT}")
        is_hash = bool(HASH_ARG_RE.match(arg.lower())) and ":" not in arg
        quarantined: list[dict[str, Any]] = []
        if is_hash:
            rows, value = _match_hash(look, arg.lower())
            match = "content_hash"
        else:
            rows, value, match = look.conversations("record_id = ?", [arg]), arg, "record_id"
            if not rows:
                quarantined = look.select("quarantine", "record_id = ?", [arg])
        if not rows and not quarantined:
            hint = "" if look.has("conversations") else f" ({BUILD_HINT})"
            raise TraceNotFound(f"no record with {match} {arg} under {storage.root}{hint}")
        _prefetch(look, rows)
        records = [_record(look, r, in_conversations=True, show_text=show_text) for r in rows]
        records += [_record(look, r, in_conversations=False, show_text=show_text) for r in quarantined]
    _add_reviews(storage, records, show_text=show_text)
    survivors = [r["record_id"] for r in records if r.get("is_released")]
    return _jsonable({"query": arg, "match": match, "value": value, "root": storage.root,
                      "survivor": survivors[0] if match == "content_hash" and survivors else None,
                      "records": records})
