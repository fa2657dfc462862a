"""Build provenance for released records: package version, git commit, PII model and config hash."""

from __future__ import annotations

import functools
import os
from typing import Any

import pyarrow as pa

from lakehouse.record import sql_type

BUILD_TYPE = pa.struct([("package_version", pa.string()), ("git_commit", pa.string()),
                        ("pii_model", pa.string()), ("pii_config_hash", pa.string()),
                        ("quality_scorer", pa.string()), ("quality_config_hash", pa.string())])
BUILD_SQL = sql_type(BUILD_TYPE)


@functools.lru_cache(maxsize=1)
def build_info() -> dict[str, Any]:
    from lakehouse import __version__
    from lakehouse.export.publish import git_commit
    from lakehouse.privacy import load_privacy_config

    cfg = load_privacy_config()
    model = getattr(cfg, "model", None) or getattr(cfg, "model_name", None) or getattr(cfg, "spacy_model", None)
    from lakehouse.quality.batch import quality_fingerprint

    q = quality_fingerprint()
    return {"package_version": __version__,
            "git_commit": git_commit(os.environ.get("LAKEHOUSE_PROJECT_DIR") or os.getcwd()),
            "pii_model": str(model) if model else None,
            "pii_config_hash": getattr(cfg, "config_hash", None),
            "quality_scorer": f"{q['scorer']} {q['version']}",
            "quality_config_hash": q["config_hash"]}


def build_info_batch(anchor: pa.Array) -> pa.Array:
    info = build_info()
    return pa.array([info] * len(anchor), type=BUILD_TYPE)
