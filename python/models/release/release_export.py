"""Publish the release (exports/releases/<version>/); the curated Delta tables are the dbt models
of models/release/marts/curated/, which run after this one.

Runs in `dbt build --select release` after every gate (tests on release_conversations);
a failing gate skips this model, so nothing is published. Returns one row per published file.
"""

import os

GATES = ["coverage", "leakage", "distribution", "quality", "pii", "provenance", "hash", "split", "stats"]


def model(dbt, session):
    dbt.config(materialized="table")
    release = dbt.ref("release_conversations")
    dbt.ref("release_pii_residual")  # the PII gate's final scan: publish only after it
    conversations = dbt.ref("conversations")
    quarantine = dbt.ref("quarantine")
    coverage = dbt.ref("coverage")
    stages = dbt.ref("curriculum_stages")
    stats = dbt.ref("release_stats")
    near_removals = dbt.ref("near_duplicate_removals")
    registry = dbt.ref("dataset_registry")

    import pyarrow as pa

    from lakehouse.export.publish import ReleaseInputs, publish_release
    from lakehouse.storage import Storage

    version = dbt.config.get("release_version") or None
    seed = int(dbt.config.get("split_seed") or 42)
    overwrite = str(dbt.config.get("release_overwrite")).lower() in ("true", "1", "yes")
    tokenizer = dbt.config.get("tokenizer") or None
    bias_baseline = dbt.config.get("bias_baseline_release") or None
    result = publish_release(
        Storage.from_env(),
        ReleaseInputs(release=release, conversations=conversations, quarantine=quarantine, coverage=coverage,
                      stages=stages, stats=stats, near_removals=near_removals, registry=registry, gates=GATES,
                      tokenizer=tokenizer, bias_baseline=bias_baseline),
        version=version, seed=seed, overwrite=overwrite,
        project_dir=os.environ.get("LAKEHOUSE_PROJECT_DIR") or os.getcwd(),
    )
    return pa.table({
        "version": [result.version] * len(result.files),
        "status": [result.status] * len(result.files),
        "release_uri": [result.uri] * len(result.files),
        "key": [f.key for f in result.files],
        "bytes": [f.bytes for f in result.files],
        "records": [f.records for f in result.files],
        "sha256": [f.sha256 for f in result.files],
    })
