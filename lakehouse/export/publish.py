"""Publish a release atomically: data files first, ``manifest.json`` last.

Called from the dbt Python model ``release_export`` after every release gate has passed, with
DuckDB relations of the release marts. Files are streamed from DuckDB in a fixed order
(shard_key, content_hash) so the same raw data and seed give byte-identical files.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from lakehouse import __version__
from lakehouse.config import config_hash, config_sources
from lakehouse.export.card import CardInputs, render_card
from lakehouse.export.files import FileEntry, HashingWriter, write_bytes_entry
from lakehouse.export.release_index import clean_stale_staging, converge_release_index, staging_prefix
from lakehouse.faults import kill_point
from lakehouse.export.report import ReportInputs, render_report
from lakehouse.storage import CATALOG_PREFIX, RELEASES_PREFIX, Storage, split_s3_uri

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
COMPILED_PREFIX = "compiled"
CARD = "README.md"
REPORT_HTML = "reports/index.html"
CONFIGS = ("sft", "kto", "preference", "pretrain")
SPLITS = ("train", "val", "test")
FORMAT = "lakehouse-release/1"


class ReleaseExists(RuntimeError):
    pass


def release_prefix(version: str) -> str:
    return f"{RELEASES_PREFIX}/{version}"


def default_version(now: datetime | None = None) -> str:
    return "v" + (now or datetime.now(timezone.utc)).strftime("%Y-%m-%d")


def git_commit(cwd: str | None = None) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")


@dataclass
class ReleaseInputs:
    """DuckDB relations of the marts the release is made from."""

    release: "duckdb.DuckDBPyRelation"
    stages: "duckdb.DuckDBPyRelation"                      # curriculum_stages seed
    stats: "duckdb.DuckDBPyRelation"                       # release_stats mart
    conversations: "duckdb.DuckDBPyRelation | None" = None
    quarantine: "duckdb.DuckDBPyRelation | None" = None
    coverage: "duckdb.DuckDBPyRelation | None" = None
    near_removals: "duckdb.DuckDBPyRelation | None" = None
    registry: "duckdb.DuckDBPyRelation | None" = None      # dataset_registry seed (coverage matrix)
    gates: list[str] = field(default_factory=list)
    tokenizer: str | None = None                            # local tokenizer folder for the report's token counts
    bias_baseline: str | None = None                        # release whose reports/bias.json is the baseline


@dataclass
class PublishResult:
    version: str
    uri: str
    status: str                 # published | unchanged
    files: list[FileEntry]
    counts: dict[str, Any]


def _rows(rel: "duckdb.DuckDBPyRelation", sql: str) -> list[dict[str, Any]]:
    res = rel.query("r", sql)
    cols = res.columns
    return [dict(zip(cols, row)) for row in res.fetchall()]


def shard_config(key: str) -> str:
    """The config (sft, kto, preference, pretrain) of a shard key shards/<config>/<split>/<family>/part-N.jsonl."""
    return key.split("/")[1]


def compiled_key(config: str, split: str) -> str:
    return f"{COMPILED_PREFIX}/{config}/{split}.jsonl"


def _write_shards(rel: "duckdb.DuckDBPyRelation", staging: str) -> tuple[list[FileEntry], dict[str, Any]]:
    """JSONL shards, plus one compiled file per config and split holding the same lines in the same order.
    Rows arrive ordered by shard key, so each config/split is one contiguous run of rows."""
    ordered = rel.query("r", "select shard_key, json_line, split, family, kind from r "
                             "order by shard_key, content_hash")
    reader = ordered.fetch_record_batch(10_000)
    entries: list[FileEntry] = []
    current: HashingWriter | None = None
    compiled: HashingWriter | None = None
    seen: set[str] = set()
    counts: dict[str, Any] = {"records": 0, "by_split": {}, "by_family": {}, "by_kind": {}, "by_family_split": {},
                              "by_config": {}}
    for batch in reader:
        cols = batch.to_pydict()
        for key, line, split, fam, kind in zip(cols["shard_key"], cols["json_line"], cols["split"],
                                               cols["family"], cols["kind"]):
            if current is None or current.key != key:
                if current is not None:
                    entries.append(current.close())
                if key in seen:  # would truncate a finished shard: the stream must be ordered by key
                    raise RuntimeError(f"shard {key} reopened: release rows are not ordered by shard_key")
                seen.add(key)
                current = HashingWriter(os.path.join(staging, key), key)
                ckey = compiled_key(shard_config(key), split)
                if compiled is None or compiled.key != ckey:
                    if compiled is not None:
                        entries.append(compiled.close())
                    compiled = HashingWriter(os.path.join(staging, ckey), ckey)
            data = line.encode("utf-8")
            current.write_line(data)
            assert compiled is not None
            compiled.write_line(data)
            counts["records"] += 1
            counts["by_split"][split] = counts["by_split"].get(split, 0) + 1
            counts["by_family"][fam] = counts["by_family"].get(fam, 0) + 1
            counts["by_kind"][kind] = counts["by_kind"].get(kind, 0) + 1
            fs = counts["by_family_split"].setdefault(fam, {})
            fs[split] = fs.get(split, 0) + 1
            cs = counts["by_config"].setdefault(shard_config(key), {s: 0 for s in SPLITS})
            cs[split] = cs.get(split, 0) + 1
    for w in (current, compiled):
        if w is not None:
            entries.append(w.close())
    return entries, counts


def _write_parquet(staging: str, entries: list[FileEntry]) -> tuple[list[FileEntry], dict[str, Any],
                                                                       dict[str, dict[str, list[str]]]]:
    """Parquet beside the JSONL shards (parquet/<config>/<split>/<family>/part-N.parquet), one schema per config.
    Returns the entries, the schema of each config and its Parquet keys by split (a split without records has
    none: `datasets` cannot load an empty split)."""
    from lakehouse.export.files import parquet_key, write_parquet_mirrors

    by_config: dict[str, list[str]] = {}
    for e in sorted(entries, key=lambda e: e.key):
        if e.key.startswith("shards/"):
            by_config.setdefault(shard_config(e.key), []).append(e.key)
    out: list[FileEntry] = []
    schemas: dict[str, Any] = {}
    files: dict[str, dict[str, list[str]]] = {}
    for config in CONFIGS:
        keys = by_config.get(config)
        if not keys:
            continue
        written, schema = write_parquet_mirrors(staging, keys)
        out += written
        schemas[config] = schema
        files[config] = {s: [parquet_key(k) for k in keys if k.split("/")[2] == s] for s in SPLITS}
    return out, schemas, files


PHASE_NAMES = {"A": ("continued_pretraining", "pretrain"), "B": ("sft", "sft"), "C": ("preference", "preference")}


def registry_curriculum(rel: "duckdb.DuckDBPyRelation", stages: "duckdb.DuckDBPyRelation", version: str,
                        seed: int) -> dict[str, Any]:
    """curriculum.json from the curriculum_stages seed and the release's families and shards."""
    stage_rows = _rows(stages, "select * from r order by phase, stage nulls first")  # + epochs, learning_rate
    fam_rows = _rows(rel, "select phase, stage, family, any_value(family_weight) as weight, count(*) as records "
                          "from r group by all order by phase, stage nulls first, family")
    files = _rows(rel, "select phase, stage, family, split, shard_key from r group by all "
                       "order by phase, stage nulls first, family, split, shard_key")
    phases: list[dict[str, Any]] = []
    for phase in ("A", "B", "C"):
        out_stages = []
        for st in (x for x in stage_rows if x["phase"] == phase):
            fams = [f for f in fam_rows if f["phase"] == phase and f["stage"] == st["stage"]]
            if not fams:
                continue
            total = sum(float(f["weight"] or 1.0) for f in fams) or 1.0
            out_fams = []
            for f in fams:
                split_files: dict[str, list[str]] = {"train": [], "val": [], "test": []}
                kto_files: dict[str, list[str]] = {}
                for row in files:
                    if (row["phase"], row["stage"], row["family"]) == (phase, st["stage"], f["family"]):
                        # KTO rows (messages + label) are listed apart: the DPO phase reads pairs only
                        target = kto_files if shard_config(row["shard_key"]) == "kto" else split_files
                        target.setdefault(row["split"], []).append(row["shard_key"])
                fam = {"family": f["family"], "weight": round(float(f["weight"] or 1.0) / total, 6),
                       "records": f["records"], "files": split_files}
                if kto_files:
                    fam["kto_files"] = kto_files
                out_fams.append(fam)
            out_stages.append({"stage": st["stage"], "name": st["name"], "weight": float(st["weight"]),
                               **{k: float(st[k]) for k in ("epochs", "learning_rate") if st.get(k) is not None},
                               "families": out_fams})
        if out_stages:
            name, kind = PHASE_NAMES[phase]
            phases.append({"phase": phase, "name": name, "kind": kind, "stages": out_stages})
    return {"version": version, "seed": seed, "phases": phases}


def audit_report(inputs: ReleaseInputs) -> dict[str, Any]:
    """Per step counts in and out, redactions by entity type, quarantine by reason, gates. No text."""
    steps: list[dict[str, Any]] = []
    reasons: dict[str, int] = {}
    if inputs.coverage is not None:
        cov = _rows(inputs.coverage, "select sum(rows_read) as rows_read, sum(records_converted) as converted, "
                                     "sum(records_quarantined) as quarantined from r")[0]
        steps.append({"step": "land+convert", "in": int(cov["rows_read"] or 0),
                      "out": int((cov["converted"] or 0) + (cov["quarantined"] or 0))})
    if inputs.quarantine is not None:
        for r in _rows(inputs.quarantine, "select reason_code, count(*) as n from r group by 1 order by 1"):
            reasons[r["reason_code"]] = int(r["n"])
    if inputs.conversations is not None:
        c = _rows(inputs.conversations, """
            select count(*) as curated,
                   count(*) filter (where duplicate_kind = 'exact') as exact,
                   count(*) filter (where duplicate_kind = 'near' and not is_released) as near,
                   count(*) filter (where duplicate_kind = 'exact_after_redaction') as after_redaction,
                   count(*) filter (where is_released) as released from r""")[0]
        quarantined = sum(reasons.values())
        steps += [
            {"step": "policy (registry, license, crossover, quality, safety)", "in": int(c["curated"]) + quarantined,
             "out": int(c["curated"]), "quarantined": quarantined},
            {"step": "exact dedup", "in": int(c["curated"]), "out": int(c["curated"]) - int(c["exact"]), "removed": int(c["exact"])},
            {"step": "near dedup", "in": int(c["curated"]) - int(c["exact"]),
             "out": int(c["curated"]) - int(c["exact"]) - int(c["near"]), "removed": int(c["near"])},
            {"step": "pii redaction + post-redaction dedup", "in": int(c["curated"]) - int(c["exact"]) - int(c["near"]),
             "out": int(c["released"]), "removed": int(c["after_redaction"])},
        ]
    redactions: dict[str, int] = {}
    status: dict[str, int] = {}
    for r in _rows(inputs.release, "select pii_redactions, pii_status, count(*) as n from r group by all"):
        status[r["pii_status"]] = status.get(r["pii_status"], 0) + int(r["n"])
        for k, v in json.loads(r["pii_redactions"] or "{}").items():
            redactions[k] = redactions.get(k, 0) + int(v) * int(r["n"])
    return {"steps": steps, "quarantine_by_reason": dict(sorted(reasons.items())),
            "redactions_by_entity_type": dict(sorted(redactions.items())),
            "pii_status": dict(sorted(status.items())),
            "gates": [{"gate": g, "result": "pass"} for g in inputs.gates]}


def release_provenance(rel: "duckdb.DuckDBPyRelation") -> dict[str, Any]:
    """The transform settings the records carry (one value each, or a comma list), plus the policy
    config hash. Content-derived only, so it is equal across rebuilds."""
    prov: dict[str, Any] = {}
    if "json_line" in rel.columns:
        for name in ("package_version", "git_commit", "registry_version", "pii_model", "pii_config_hash"):
            vals = _rows(rel, f"select distinct json_extract_string(json_line, '$.metadata.transform.{name}') as v "
                              "from r order by 1")
            prov[name] = ", ".join(str(v["v"]) for v in vals if v["v"] is not None)
    prov["config_hash"] = config_hash()
    return prov


def _card(inputs: ReleaseInputs, counts: dict[str, Any], schemas: dict[str, Any],
          parquet_files: dict[str, dict[str, list[str]]], provenance: dict[str, Any], seed: int,
          split_bytes: dict[str, dict[str, int]]) -> bytes:
    rel = inputs.release
    families = _rows(rel, "select family, case when kind = 'sft' and label is not null then 'kto' else kind end "
                          "as config, split, count(*) as records from r group by all order by all")
    licenses = _rows(rel, "select coalesce(license_tag, '(none)') as license_tag, count(*) as records from r "
                          "group by 1 order by 1")
    sources = _rows(rel, "select source_name, any_value(source_family) as source_family, "
                         "string_agg(distinct coalesce(license_tag, '(none)'), ', ' order by coalesce(license_tag, '(none)')) "
                         "as license_tag, count(*) as records from r group by 1 order by 1")
    return render_card(CardInputs(version="", seed=seed, counts=counts.get("by_config", {}), parquet_files=parquet_files,
                                  schemas=schemas, families=families, licenses=licenses, sources=sources,
                                  provenance=provenance, gates=list(inputs.gates), split_bytes=split_bytes))


def _bias(storage: Storage, inputs: ReleaseInputs) -> dict[str, Any]:
    """reports/bias.json (lakehouse.review.bias): mention rates, stereotype flags and languages by
    family and split, against the ``bias_baseline_release`` when one is named. Never names this
    release, so rebuilds stay byte-identical. Aggregated from the per-record columns the build carries
    (int_record_bias: group_mentions, stereotype_flags, bias_score, language), grouped in SQL so only
    distinct feature rows with a count reach Python; a relation without them is re-scanned."""
    from lakehouse.review.bias import bias_report, load_bias_report

    if {"group_mentions", "stereotype_flags", "bias_score", "language"} <= set(inputs.release.columns):
        sql = ("select family, split, group_mentions, stereotype_flags, bias_score, language, "
               "count(*) as record_count from r group by all order by all")
    else:
        sql = "select family, split, kind, messages, prompt, chosen, rejected, text from r order by record_id"
    reader = inputs.release.query("r", sql).to_arrow_reader(4096)

    def rows() -> Any:
        for batch in reader:
            yield from batch.to_pylist()

    baseline = load_bias_report(storage, inputs.bias_baseline) if inputs.bias_baseline else None
    return bias_report(rows(), baseline)


def _existing_manifest(storage: Storage, version: str) -> dict[str, Any] | None:
    key = f"{release_prefix(version)}/{MANIFEST}"
    if not storage.exists(key):
        return None
    return json.loads(storage.read_bytes(key))


def publish_release(storage: Storage, inputs: ReleaseInputs, *, version: str | None = None, seed: int = 42,
                    overwrite: bool = False, project_dir: str | None = None) -> PublishResult:
    version = version or default_version()
    if not version or "/" in version or version.startswith("."):
        raise ValueError(f"invalid release version {version!r}")
    storage.ensure_root()
    prefix = release_prefix(version)
    staging = _staging_dir(storage, prefix)
    try:
        entries, counts = _write_shards(inputs.release, staging)
        curriculum = registry_curriculum(inputs.release, inputs.stages, version, seed)
        stats = {"by_family_split_stage": _rows(inputs.stats, "select * from r order by family, split, stage nulls first, kind")}
        reports: dict[str, Any] = {"stats": stats, "audit": audit_report(inputs)}
        if inputs.near_removals is not None:
            n = _rows(inputs.near_removals, "select count(*) as n, round(avg(jaccard), 4) as mean_jaccard from r")[0]
            reports["dedup"] = {"near_duplicates_removed": int(n["n"]), "mean_jaccard": n["mean_jaccard"]}
        reports["bias"] = _bias(storage, inputs)
        if inputs.coverage is not None:
            sources = _rows(inputs.coverage, "select * from r order by source_name")
            for src in sources:
                if isinstance(src.get("quarantined_by_reason"), str):
                    src["quarantined_by_reason"] = json.loads(src["quarantined_by_reason"])
            reports["coverage"] = {"sources": sources}
        for name, obj in [("curriculum.json", curriculum)] + [(f"reports/{k}.json", v) for k, v in sorted(reports.items())]:
            w = HashingWriter(os.path.join(staging, name), name)
            w.write_all(_json_bytes(obj), records=0)
            entries.append(w.close())
        # voice personas registered under the lakehouse root travel with the release (issue 16)
        from lakehouse.generate.persona import registered_profiles

        for key, data in registered_profiles(storage):
            entries.append(write_bytes_entry(staging, key, data))
        parquet_entries, schemas, parquet_files = _write_parquet(staging, entries)
        entries += parquet_entries
        provenance = release_provenance(inputs.release)
        sizes = {e.key: e.bytes for e in parquet_entries}
        split_bytes = {c: {s: sum(sizes[k] for k in keys) for s, keys in by_split.items()}
                       for c, by_split in parquet_files.items()}
        entries.append(write_bytes_entry(staging, CARD, _card(inputs, counts, schemas, parquet_files, provenance, seed,
                                                              split_bytes)))
        entries.append(write_bytes_entry(staging, REPORT_HTML, render_report(ReportInputs(
            release=inputs.release, audit=reports["audit"], counts=counts, conversations=inputs.conversations,
            quarantine=inputs.quarantine, coverage=inputs.coverage, near_removals=inputs.near_removals,
            registry=inputs.registry, tokenizer=inputs.tokenizer or None, gates=list(inputs.gates),
            bias=reports.get("bias")))))
        entries.sort(key=lambda e: e.key)
        manifest = {
            "format": FORMAT, "version": version,
            "created_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "git_commit": git_commit(project_dir), "package_version": __version__, "seed": seed,
            "config_hash": provenance["config_hash"], "config_sources": config_sources(),
            "counts": counts, "files": [e.as_dict() for e in entries],
        }

        existing = _existing_manifest(storage, version)
        if existing is not None:
            if existing.get("files") == manifest["files"]:
                log.info("release %s unchanged (%d files)", version, len(entries))
                converge_release_index(storage, inputs.release, version)   # repairs a publish killed before it
                return PublishResult(version, storage.uri(prefix), "unchanged", entries, counts)
            if not overwrite:  # refused before anything is written (the curated models then skip too)
                raise ReleaseExists(
                    f"release {version} already exists with different content; releases are immutable: set a "
                    f"new version (lakehouse build --version v..., or --vars '{{release_version: v...}}') "
                    f"or release_overwrite: true")
        _upload(storage, staging, prefix, entries, manifest)
        kill_point("publish.after_folder")
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already when a local release was renamed into place
    converge_release_index(storage, inputs.release, version)
    log.info("release %s published: %d records, %d files", version, counts["records"], len(entries))
    return PublishResult(version, storage.uri(prefix), "published", entries, counts)


def _staging_dir(storage: Storage, prefix: str) -> str:
    """Where release files are written first: for a local root a hidden folder beside the release
    (same filesystem, so publishing is one rename and no byte is copied), for S3 a local temp dir."""
    if storage.is_s3:
        return tempfile.mkdtemp(prefix="lakehouse-release-")
    final = storage.uri(prefix)
    parent = os.path.dirname(final)
    os.makedirs(parent, exist_ok=True)
    clean_stale_staging(parent)   # folders of a killed publish (their process is gone)
    return tempfile.mkdtemp(prefix=staging_prefix(os.path.basename(final)), dir=parent)


def _upload(storage: Storage, staging: str, prefix: str, entries: list[FileEntry], manifest: dict[str, Any]) -> None:
    """Data files first, manifest last. Locally the staged folder becomes the release with one rename."""
    manifest_bytes = _json_bytes(manifest)
    if not storage.is_s3:
        final = storage.uri(prefix)
        with open(os.path.join(staging, MANIFEST), "wb") as f:
            f.write(manifest_bytes)
        kill_point("publish.before_place")
        if os.path.exists(final):
            old = final + f".old-{os.getpid()}"
            os.replace(final, old)
            os.replace(staging, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, final)
        return
    # S3: remove the manifest first (the release stops existing), stale files, then upload
    if storage.exists(f"{prefix}/{MANIFEST}"):
        bucket, key = split_s3_uri(storage.uri(f"{prefix}/{MANIFEST}"))
        storage.s3.delete_object(Bucket=bucket, Key=key)
    storage.delete_prefix(prefix)
    for e in entries:
        storage.put_file(os.path.join(staging, e.key), f"{prefix}/{e.key}")
    storage.write_bytes(f"{prefix}/{MANIFEST}", manifest_bytes)
