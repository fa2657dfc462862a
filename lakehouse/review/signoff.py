"""``lakehouse release signoff``: the recorded release decision (approve, reject, revoke).

Approval is refused unless every sampled record of the foundation families (SFT stage in
``signoff.foundation_stages``) and of the edge-case families (``is_edge_case`` in the registry) has
decisions from at least ``min_reviewers`` reviewers, no sampled record of the release is escalated,
and the release has its bias report. The decision is written to ``reviews/<version>/signoff.json``
(its own sha256 inside, chained to the previous signoff) and appended to the Delta table
``reviews/signoffs``. The release files are never touched.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from lakehouse.review.config import Rubric, load_rubric
from lakehouse.review.record import REVIEWER_RE, load_decisions, verdict_summary
from lakehouse.review.release import (
    REVIEWS_PREFIX, ReviewError, content_sha256, find_bias_report, manifest_of, resolve_version, review_key,
)
from lakehouse.review.sample import SAMPLE_CSV, read_sample, registry_rows
from lakehouse.storage import Storage

SIGNOFFS_TABLE = f"{REVIEWS_PREFIX}/signoffs"
SIGNOFF_JSON = "signoff.json"
DECISIONS = ("approve", "reject", "revoke")
FORMAT = "lakehouse-signoff/1"


class SignoffRefused(ReviewError):
    """Approval preconditions not met (the message lists what is missing)."""


class SignoffRequired(ReviewError):
    """A release is used (e.g. for training) without an approved, valid signoff."""


@dataclass
class SignoffResult:
    version: str
    decision: str
    key: str
    sha256: str
    body: dict[str, Any]


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")


def body_sha256(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(_canonical({k: v for k, v in body.items() if k != "sha256"})).hexdigest()


def review_families(registry: Mapping[str, Mapping[str, str]], rubric: Rubric) -> dict[str, str]:
    """Families whose samples must be reviewed before approval -> why (foundation / edge_case)."""
    stages = {str(s) for s in rubric.signoff.get("foundation_stages") or [1]}
    out: dict[str, str] = {}
    for fam, row in registry.items():
        if str(row.get("is_edge_case", "")).strip().lower() in ("true", "1", "yes"):
            out[fam] = "edge_case"
        elif str(row.get("sft_stage", "")).strip() in stages:
            out[fam] = "foundation"
    return out


def review_coverage(storage: Storage, version: str, *, min_reviewers: int, rubric: Rubric | None = None,
                    project_dir: str | Path | None = None) -> dict[str, Any]:
    """What the QA of a release covers: per required family, sampled / reviewed records, and the
    records still short of ``min_reviewers``; verdict counts; escalations."""
    rubric = rubric or load_rubric()
    sample = read_sample(storage, version)
    registry = registry_rows(project_dir)
    required = review_families(registry, rubric)
    if sample is None:
        return {"sample": None, "required_families": required, "families": {}, "missing": [], "escalated": [],
                "verdicts": {}, "reviewers": []}
    sampled = [r for r in sample if r.get("status", "released") == "released"]
    ids = [r["record_id"] for r in sample]
    decisions = load_decisions(storage, record_ids=ids)
    hashes = {r["record_id"]: r.get("content_hash") or "" for r in sample}
    # a decision counts for this release when it was made on it, or on the same content elsewhere
    relevant = [d for d in decisions if d["release"] == version
                or (d.get("content_hash") and d["content_hash"] == hashes.get(d["record_id"]))]
    summary = verdict_summary(relevant, rubric)
    fams: dict[str, dict[str, int]] = {}
    missing: list[dict[str, Any]] = []
    for r in sampled:
        fam, src = r.get("family") or "", r.get("source_family") or ""
        why = required.get(fam) or required.get(src)
        if r.get("is_training_edge_case", "").lower() == "true":
            why = why or "edge_case"
        if not why:
            continue
        s = summary.get(r["record_id"])
        n = len(s["reviewers"]) if s else 0
        f = fams.setdefault(fam, {"sampled": 0, "reviewed": 0, "why": why})  # type: ignore[dict-item]
        f["sampled"] += 1
        if n >= min_reviewers:
            f["reviewed"] += 1
        else:
            missing.append({"record_id": r["record_id"], "family": fam, "reviewers": n})
    verdicts: dict[str, int] = {}
    for s in summary.values():
        if s["verdict"]:
            verdicts[s["verdict"]] = verdicts.get(s["verdict"], 0) + 1
        if s["has_release_verdict"]:
            verdicts["release"] = verdicts.get("release", 0) + 1
    released_ids = {r["record_id"] for r in sampled}
    escalated = sorted(rid for rid, s in summary.items() if s["verdict"] == "escalate" and rid in released_ids)
    return {"sample": {"records": len(sample), "sha256": hashlib.sha256(storage.read_bytes(review_key(version, SAMPLE_CSV))).hexdigest()},
            "required_families": required, "families": dict(sorted(fams.items())), "missing": missing,
            "escalated": escalated, "verdicts": dict(sorted(verdicts.items())),
            "reviewers": sorted({rv for s in summary.values() for rv in s["reviewers"]})}


def read_signoff(storage: Storage, version: str) -> dict[str, Any] | None:
    key = review_key(version, SIGNOFF_JSON)
    if not storage.exists(key):
        return None
    return json.loads(storage.read_bytes(key))


def signoff_state(storage: Storage, version: str) -> dict[str, Any]:
    """{state: approved | rejected | revoked | unsigned | invalid | stale, ...} of a release.
    invalid: signoff.json was edited (its sha256 does not match); stale: the release's files changed
    since the signoff (a rebuild with release_overwrite)."""
    body = read_signoff(storage, version)
    if body is None:
        return {"state": "unsigned"}
    out = {"state": {"approve": "approved", "reject": "rejected", "revoke": "revoked"}.get(body.get("decision"), "invalid"),
           "reviewer": body.get("reviewer"), "decided_at": body.get("decided_at"), "sha256": body.get("sha256"),
           "signoff_id": body.get("signoff_id")}
    if body_sha256(body) != body.get("sha256"):
        out["state"] = "invalid"
        out["problem"] = "signoff.json does not match its sha256 (edited by hand?)"
        return out
    try:
        manifest, _ = manifest_of(storage, version)
        if content_sha256(manifest) != (body.get("release") or {}).get("content_sha256"):
            out["state"] = "stale"
            out["problem"] = "the release's files changed after the signoff"
    except ReviewError:
        out["state"] = "invalid"
        out["problem"] = "the release no longer exists"
    return out


def signoff_line(storage: Storage, version: str) -> str:
    """One line for `release list` / `release show`."""
    s = signoff_state(storage, version)
    if s["state"] == "unsigned":
        return "unsigned (lakehouse release signoff)"
    line = f"{s['state']} by {s.get('reviewer')} at {s.get('decided_at')}"
    return line + (f" ({s['problem']})" if s.get("problem") else "")


def _known_exclusions(storage: Storage, version: str, manifest: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in manifest.get("files") or []:
        if str(f["key"]).endswith("audit.json"):
            from lakehouse.export.publish import release_prefix

            try:
                audit = json.loads(storage.read_bytes(f"{release_prefix(version)}/{f['key']}"))
                out["quarantine_by_reason"] = audit.get("quarantine_by_reason") or {}
            except (FileNotFoundError, ValueError):
                pass
    return out


def _append_row(storage: Storage, body: Mapping[str, Any]) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    schema = pa.schema([("signoff_id", pa.string()), ("release", pa.string()), ("decision", pa.string()),
                        ("reviewer", pa.string()), ("notes", pa.string()), ("min_reviewers", pa.int64()),
                        ("manifest_sha256", pa.string()), ("content_sha256", pa.string()),
                        ("signoff_sha256", pa.string()), ("previous_sha256", pa.string()),
                        ("decided_at", pa.timestamp("us", tz="UTC"))])
    row = {"signoff_id": body["signoff_id"], "release": body["version"], "decision": body["decision"],
           "reviewer": body["reviewer"], "notes": body.get("notes") or "", "min_reviewers": body["min_reviewers"],
           "manifest_sha256": body["release"]["manifest_sha256"], "content_sha256": body["release"]["content_sha256"],
           "signoff_sha256": body["sha256"], "previous_sha256": body.get("previous_sha256"),
           "decided_at": datetime.strptime(body["decided_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)}
    write_deltalake(storage.uri(SIGNOFFS_TABLE), pa.Table.from_pylist([row], schema=schema), mode="append",
                    storage_options=storage.delta_storage_options())


def sign_off(storage: Storage, version: str, *, reviewer: str, decision: str, notes: str = "",
             min_reviewers: int | None = None, rubric: Rubric | None = None,
             project_dir: str | Path | None = None, now: datetime | None = None) -> SignoffResult:
    rubric = rubric or load_rubric()
    decision = (decision or "").strip().lower()
    if decision not in DECISIONS:
        raise ReviewError(f"--decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
    if not reviewer or not REVIEWER_RE.match(reviewer.strip()):
        raise ReviewError("--reviewer is required: a reviewer id (letters, digits, . _ @ -)")
    reviewer = reviewer.strip()
    min_reviewers = int(min_reviewers if min_reviewers is not None else rubric.signoff.get("min_reviewers", 1))
    if min_reviewers < 1:
        raise ReviewError("--min-reviewers must be at least 1")
    version = resolve_version(storage, version)
    manifest, manifest_sha = manifest_of(storage, version)
    coverage = review_coverage(storage, version, min_reviewers=min_reviewers, rubric=rubric, project_dir=project_dir)
    bias = find_bias_report(storage, version, manifest)
    previous = read_signoff(storage, version)
    if decision == "approve":
        problems = []
        if coverage["sample"] is None:
            problems.append(f"no review sample (run: lakehouse qa sample {version})")
        elif coverage["missing"]:
            fams = sorted({m["family"] for m in coverage["missing"]})
            ex = ", ".join(m["record_id"] for m in coverage["missing"][:3])
            problems.append(f"{len(coverage['missing'])} sampled record(s) of {', '.join(fams)} have decisions from "
                            f"fewer than {min_reviewers} reviewer(s) (e.g. {ex})")
        elif not coverage["families"]:
            problems.append("the sample holds no record of a foundation or edge-case family to review")
        if coverage["escalated"] and rubric.signoff.get("refuse_with_escalations", True):
            problems.append(f"{len(coverage['escalated'])} sampled record(s) are escalated (e.g. "
                            f"{coverage['escalated'][0]}): rebuild (the next build quarantines them) and review "
                            "the new release")
        if bias is None:
            problems.append(f"no bias report (reports/bias.json in the release, or run: lakehouse qa bias {version})")
        if problems:
            raise SignoffRefused(f"approval of {version} refused: " + "; ".join(problems))
    elif decision == "revoke" and (previous is None or previous.get("decision") != "approve"):
        raise ReviewError(f"release {version} has no approval to revoke")
    ts = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body: dict[str, Any] = {
        "format": FORMAT, "version": version, "decision": decision, "reviewer": reviewer, "notes": notes,
        "decided_at": ts, "signoff_id": uuid.uuid4().hex, "min_reviewers": min_reviewers,
        "release": {"manifest_sha256": manifest_sha, "content_sha256": content_sha256(manifest),
                    "families": (manifest.get("counts") or {}).get("by_family") or {},
                    "records": (manifest.get("counts") or {}).get("records"),
                    "known_exclusions": _known_exclusions(storage, version, manifest)},
        "qa": {**{k: coverage[k] for k in ("sample", "families", "verdicts", "reviewers", "escalated")},
               "missing": len(coverage["missing"]), **rubric.provenance},
        "bias_report": ({"key": bias[0], "sha256": hashlib.sha256(bias[1]).hexdigest()} if bias else None),
        "previous_sha256": (previous or {}).get("sha256"),
    }
    body["sha256"] = body_sha256(body)
    key = review_key(version, SIGNOFF_JSON)
    _append_row(storage, body)   # the audit row first: a signoff.json never exists without its row
    storage.write_bytes(key, (json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))
    return SignoffResult(version, decision, key, body["sha256"], body)


def require_signoff(storage: Storage, version: str, *, allow_unsigned: bool = False) -> str | None:
    """For consumers of a release (training): None when approved; a warning text when not approved
    but ``allow_unsigned``; otherwise SignoffRequired."""
    s = signoff_state(storage, version)
    if s["state"] == "approved":
        return None
    what = {"unsigned": "has no signoff", "rejected": "was rejected at signoff", "revoked": "had its signoff revoked",
            "invalid": "has an invalid signoff", "stale": "changed after its signoff"}.get(s["state"], "is not approved")
    detail = f" ({s['problem']})" if s.get("problem") else ""
    if allow_unsigned:
        return f"release {version} {what}{detail}: training anyway because of --allow-unsigned"
    raise SignoffRequired(f"release {version} {what}{detail}: approve it first (lakehouse release signoff {version} "
                          "--reviewer ID --decision approve) or pass --allow-unsigned")
