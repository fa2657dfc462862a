"""``lakehouse qa record``: validate a decisions CSV and append it to the Delta table reviews/decisions.

Every row is checked before anything is written; one bad row refuses the whole file, with an
error naming each bad row (its line in the CSV). The append is one Delta commit. A decision's id is
``sha256(reviewer, record_id, release, verdict, notes)``: re-recording the same file adds nothing.
The table holds ids, verdicts, rubric values and notes, never message text.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from lakehouse.review.config import Rubric, load_rubric
from lakehouse.review.release import REVIEWS_PREFIX, ReviewError
from lakehouse.review.sample import read_sample
from lakehouse.storage import CATALOG_PREFIX, QUARANTINE_PREFIX, Storage

DECISIONS_TABLE = f"{REVIEWS_PREFIX}/decisions"
REVIEWER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MAX_ERRORS_SHOWN = 20


class DecisionsInvalid(ReviewError):
    """The file has bad rows; ``problems`` lists them (each names its row)."""

    def __init__(self, path: str, problems: list[str]):
        self.problems = problems
        shown = problems[:MAX_ERRORS_SHOWN]
        more = f"; and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        super().__init__(f"{path}: {len(problems)} bad row(s), nothing was recorded: " + "; ".join(shown) + more)


def decisions_schema() -> Any:
    import pyarrow as pa

    return pa.schema([
        ("decision_id", pa.string()), ("reviewer", pa.string()), ("record_id", pa.string()),
        ("content_hash", pa.string()), ("release", pa.string()), ("verdict", pa.string()),
        ("rubric", pa.string()), ("rubric_version", pa.string()), ("notes", pa.string()),
        ("family", pa.string()), ("record_status", pa.string()), ("quarantine_reason_code", pa.string()),
        ("source_file_sha256", pa.string()), ("recorded_at", pa.timestamp("us", tz="UTC")),
    ])


def decision_id(reviewer: str, record_id: str, release: str, verdict: str, notes: str) -> str:
    key = "\x1f".join([reviewer, record_id, release, verdict, notes])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


@dataclass
class KnownRecord:
    record_id: str
    content_hash: str
    status: str                  # released | quarantined
    family: str = ""
    reason_code: str = ""


@dataclass
class RecordResult:
    rows_read: int
    decisions: int
    appended: int
    skipped_blank: int
    already_recorded: int
    by_verdict: dict[str, int] = field(default_factory=dict)


def _delta(storage: Storage, key: str) -> Any:
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return DeltaTable(storage.uri(key), storage_options=storage.delta_storage_options())
    except TableNotFoundError:
        return None


def load_decisions(storage: Storage, *, record_ids: Iterable[str] | None = None,
                   release: str | None = None) -> list[dict[str, Any]]:
    """Rows of reviews/decisions (optionally for some records / one release), oldest first."""
    dt = _delta(storage, DECISIONS_TABLE)
    if dt is None:
        return []
    filters: list[Any] = []
    if record_ids is not None:
        ids = sorted(set(record_ids))
        if not ids:
            return []
        filters.append(("record_id", "in", ids))
    if release is not None:
        filters.append(("release", "=", release))
    table = dt.to_pyarrow_table(filters=filters or None)
    rows = table.to_pylist()
    rows.sort(key=lambda r: (r["recorded_at"], r["decision_id"]))
    return rows


def _lookup_known(storage: Storage, release: str, ids: set[str]) -> dict[str, KnownRecord]:
    """Records outside the packet: in the release index (released) or in quarantine/records."""
    out: dict[str, KnownRecord] = {}
    if not ids:
        return out
    rr = _delta(storage, f"{CATALOG_PREFIX}/release_records")
    if rr is not None:
        t = rr.to_pyarrow_table(columns=["version", "record_id", "content_hash"],
                                filters=[("version", "=", release), ("record_id", "in", sorted(ids))])
        for r in t.to_pylist():
            out[r["record_id"]] = KnownRecord(r["record_id"], r.get("content_hash") or "", "released")
    rest = ids - set(out)
    q = _delta(storage, f"{QUARANTINE_PREFIX}/records") if rest else None
    if q is not None:
        names = q.schema().to_arrow().names if hasattr(q.schema(), "to_arrow") else ["record_id", "source_family", "reason_code"]
        cols = [c for c in ("record_id", "source_family", "reason_code") if c in names]
        t = q.to_pyarrow_table(columns=cols, filters=[("record_id", "in", sorted(rest))])
        for r in t.to_pylist():
            out[r["record_id"]] = KnownRecord(r["record_id"], "", "quarantined", r.get("source_family") or "",
                                              r.get("reason_code") or "")
    return out


def _packet(storage: Storage, release: str, cache: dict[str, dict[str, KnownRecord] | None]) -> dict[str, KnownRecord] | None:
    if release not in cache:
        rows = read_sample(storage, release)
        cache[release] = None if rows is None else {
            r["record_id"]: KnownRecord(r["record_id"], r.get("content_hash") or "", r.get("status") or "released",
                                        r.get("family") or "", r.get("quarantine_reason_code") or "")
            for r in rows}
    return cache[release]


def parse_decisions(storage: Storage, text: str, *, path: str, reviewer: str | None, release: str | None = None,
                    rubric: Rubric | None = None, source_sha256: str = "",
                    now: datetime | None = None) -> tuple[list[dict[str, Any]], int]:
    """Validate a decisions CSV; (decision rows, blank rows skipped) or DecisionsInvalid naming every bad row."""
    rubric = rubric or load_rubric()
    problems: list[str] = []
    if reviewer is not None and not REVIEWER_RE.match(reviewer.strip()):
        raise ReviewError(f"--reviewer {reviewer!r} is not a reviewer id (letters, digits, . _ @ -; at most 64)")
    try:
        reader = csv.DictReader(io.StringIO(text))
        header = [h.strip() for h in (reader.fieldnames or [])]
    except csv.Error as e:
        raise DecisionsInvalid(path, [f"not a CSV file ({e})"]) from e
    missing = [c for c in ("record_id", "verdict") if c not in header]
    if missing:
        raise DecisionsInvalid(path, [f"header: missing column(s) {', '.join(missing)} (expected the columns of "
                                      "qa_samples.csv)"])
    if len(set(header)) != len(header):
        raise DecisionsInvalid(path, ["header: duplicate column names"])
    items = {it.id: it for it in rubric.items}
    rows: list[dict[str, Any]] = []
    blank = 0
    packets: dict[str, dict[str, KnownRecord] | None] = {}
    pending: list[tuple[int, dict[str, Any]]] = []
    now = now or datetime.now(timezone.utc)
    try:
        raw_rows = list(reader)
    except csv.Error as e:
        raise DecisionsInvalid(path, [f"line {reader.line_num}: malformed CSV ({e})"]) from e
    for n, raw in enumerate(raw_rows, start=2):
        row_no = f"row {n}"
        if None in raw:   # more fields than the header
            problems.append(f"{row_no}: {len(raw[None])} field(s) more than the header (malformed row)")
            continue
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        if any(v is None for v in raw.values()):
            problems.append(f"{row_no}: fewer fields than the header (malformed row)")
            continue
        verdict = row.get("verdict", "").lower()
        rubric_vals = {k: row.get(k, "").lower() for k in items if row.get(k, "")}
        rid = row.get("record_id", "")
        if not verdict:
            if rubric_vals or row.get("notes"):
                problems.append(f"{row_no} ({rid or 'no record_id'}): rubric values or notes without a verdict "
                                f"(one of {', '.join(rubric.verdicts)})")
            else:
                blank += 1
            continue
        if not rid:
            problems.append(f"{row_no}: record_id is empty")
            continue
        if verdict not in rubric.verdicts:
            problems.append(f"{row_no} ({rid}): unknown verdict {row.get('verdict')!r} (one of {', '.join(rubric.verdicts)})")
            continue
        for k, v in rubric_vals.items():
            if v not in items[k].values:
                problems.append(f"{row_no} ({rid}): {k} = {row.get(k)!r} is not one of {', '.join(items[k].values)}")
        row_reviewer = row.get("reviewer", "")
        who = row_reviewer or (reviewer or "").strip()
        if not who:
            problems.append(f"{row_no} ({rid}): reviewer missing (give --reviewer ID or fill the reviewer column)")
        elif reviewer and row_reviewer and row_reviewer != reviewer.strip():
            problems.append(f"{row_no} ({rid}): reviewer {row_reviewer!r} differs from --reviewer {reviewer!r}")
        elif not REVIEWER_RE.match(who):
            problems.append(f"{row_no} ({rid}): reviewer {who!r} is not a reviewer id (letters, digits, . _ @ -)")
        rel = row.get("release", "") or (release or "")
        if not rel:
            problems.append(f"{row_no} ({rid}): release missing (the release column of qa_samples.csv, or --release)")
            continue
        if release and row.get("release") and row["release"] != release:
            problems.append(f"{row_no} ({rid}): release {row['release']!r} differs from --release {release!r}")
        notes = row.get("notes", "")
        if verdict in rubric.notes_required_for and not notes:
            problems.append(f"{row_no} ({rid}): notes are required for verdict {verdict!r} (why, in a few words; "
                            "no conversation text)")
        if len(notes) > rubric.notes_max_chars:
            problems.append(f"{row_no} ({rid}): notes longer than {rubric.notes_max_chars} characters")
        pending.append((n, {"reviewer": who, "record_id": rid, "release": rel, "verdict": verdict, "notes": notes,
                            "content_hash": row.get("content_hash", "").lower(), "rubric": rubric_vals}))
    # resolve the records: the release's packet first, then its release index and the quarantine
    by_release: dict[str, set[str]] = {}
    for _, p in pending:
        pk = _packet(storage, p["release"], packets) or {}
        if p["record_id"] not in pk:
            by_release.setdefault(p["release"], set()).add(p["record_id"])
    extra = {rel: _lookup_known(storage, rel, ids) for rel, ids in by_release.items()}
    for n, p in pending:
        rid, rel, verdict = p["record_id"], p["release"], p["verdict"]
        row_no = f"row {n} ({rid})"
        known = (_packet(storage, rel, packets) or {}).get(rid) or extra.get(rel, {}).get(rid)
        if known is None:
            where = "its review sample, release index or quarantine"
            problems.append(f"{row_no}: unknown record for release {rel} (not in {where})")
            continue
        if p["content_hash"] and known.content_hash and p["content_hash"] != known.content_hash:
            problems.append(f"{row_no}: content_hash {p['content_hash'][:12]}... differs from release {rel}'s "
                            f"{known.content_hash[:12]}... (a packet of another build?)")
            continue
        if verdict == "release":
            if known.status != "quarantined":
                problems.append(f"{row_no}: verdict 'release' is for quarantined records; this record is released")
                continue
            if not rubric.overridable(known.reason_code):
                problems.append(f"{row_no}: quarantined for {known.reason_code or 'an unknown reason'!r}, which a "
                                f"review cannot override (only {', '.join(rubric.release_overridable)}; never PII, "
                                "license or provenance)")
                continue
        elif verdict == "pass" and known.status == "quarantined":
            problems.append(f"{row_no}: the record is quarantined; use verdict 'release' to release it")
            continue
        did = decision_id(p["reviewer"], rid, rel, verdict, p["notes"])
        rows.append({"decision_id": did, "reviewer": p["reviewer"], "record_id": rid,
                     "content_hash": p["content_hash"] or known.content_hash or None, "release": rel,
                     "verdict": verdict, "rubric": json.dumps(p["rubric"], sort_keys=True),
                     "rubric_version": rubric.version, "notes": p["notes"], "family": known.family or None,
                     "record_status": known.status, "quarantine_reason_code": known.reason_code or None,
                     "source_file_sha256": source_sha256, "recorded_at": now})
    if problems:
        raise DecisionsInvalid(path, problems)
    return rows, blank


def record_decisions(storage: Storage, path: str, *, reviewer: str | None, release: str | None = None,
                     rubric: Rubric | None = None) -> RecordResult:
    """Validate ``path`` (local file or a key/URI under the lakehouse) and append its decisions."""
    import os

    try:
        data = open(path, "rb").read() if os.path.exists(path) else storage.read_bytes(path)
    except (FileNotFoundError, OSError) as e:
        raise ReviewError(f"cannot read {path}: {e.__class__.__name__}") from e
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DecisionsInvalid(path, [f"not UTF-8 text (byte {e.start})"]) from e
    rows, blank = parse_decisions(storage, text, path=path, reviewer=reviewer, release=release, rubric=rubric,
                                  source_sha256=hashlib.sha256(data).hexdigest())
    return append_decisions(storage, rows, rows_read=len(rows) + blank, blank=blank)


def append_decisions(storage: Storage, rows: list[dict[str, Any]], *, rows_read: int = 0, blank: int = 0) -> RecordResult:
    """Append decision rows not already in reviews/decisions (by decision_id), in one Delta commit."""
    import pyarrow as pa
    from deltalake import write_deltalake

    unique: dict[str, dict[str, Any]] = {}
    for r in rows:
        unique.setdefault(r["decision_id"], r)
    existing: set[str] = set()
    dt = _delta(storage, DECISIONS_TABLE)
    if dt is not None and unique:
        t = dt.to_pyarrow_table(columns=["decision_id"], filters=[("decision_id", "in", sorted(unique))])
        existing = set(t.column("decision_id").to_pylist())
    new = [r for d, r in sorted(unique.items()) if d not in existing]
    if new:
        schema = decisions_schema()
        table = pa.Table.from_pylist(new, schema=schema)
        write_deltalake(storage.uri(DECISIONS_TABLE), table, mode="append",
                        storage_options=storage.delta_storage_options())
    by_verdict: dict[str, int] = {}
    for r in new:
        by_verdict[r["verdict"]] = by_verdict.get(r["verdict"], 0) + 1
    return RecordResult(rows_read=rows_read, decisions=len(rows), appended=len(new), skipped_blank=blank,
                        already_recorded=len(rows) - len(new), by_verdict=dict(sorted(by_verdict.items())))


def verdict_summary(decisions: Iterable[Mapping[str, Any]], rubric: Rubric | None = None) -> dict[str, dict[str, Any]]:
    """Per record: most severe verdict (escalate > fail > pass), its decision id, whether a release
    verdict exists, reviewers (the Python twin of models/release/intermediate/int_review_verdicts.sql)."""
    rubric = rubric or load_rubric()
    out: dict[str, dict[str, Any]] = {}
    for d in decisions:
        s = out.setdefault(d["record_id"], {"verdict": None, "decision_id": None, "severity": 0,
                                            "has_release_verdict": False, "reviewers": set(), "n_decisions": 0})
        s["n_decisions"] += 1
        s["reviewers"].add(d["reviewer"])
        if d["verdict"] == "release":
            s["has_release_verdict"] = True
            continue
        sev = rubric.severity.get(d["verdict"], 0)
        if sev > s["severity"] or (sev == s["severity"] and sev > 0):
            s.update(verdict=d["verdict"], decision_id=d["decision_id"], severity=sev)
    for s in out.values():
        s["reviewers"] = sorted(s["reviewers"])
    return out
