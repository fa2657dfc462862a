"""Shared fixtures: a real SeaweedFS S3 server per test session, and clean lakehouse roots."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"

_S3_ENV_KEYS = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "LAKEHOUSE_ROOT",
                "OVH_S3_ENDPOINT", "OVH_S3_ACCESS_KEY", "OVH_S3_SECRET_KEY", "OVH_S3_BUCKET", "DATASET_STORAGE_BACKEND")


@pytest.fixture(scope="session", autouse=True)
def shared_result_cache(tmp_path_factory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """One content-addressed cache for every build of the session (LAKEHOUSE_CACHE_ROOT): the same
    fixture texts are analysed and scored once, not once per test. Results are keyed by content
    and config fingerprint, so sharing never changes an output; tests of the caches themselves
    use their own roots."""
    path = str(tmp_path_factory.mktemp("result-cache"))
    old = os.environ.get("LAKEHOUSE_CACHE_ROOT")
    os.environ["LAKEHOUSE_CACHE_ROOT"] = path
    yield path
    if old is None:
        os.environ.pop("LAKEHOUSE_CACHE_ROOT", None)
    else:
        os.environ["LAKEHOUSE_CACHE_ROOT"] = old


@pytest.fixture(scope="session")
def s3_server() -> Iterator["object"]:
    """A SeaweedFS ``weed mini`` bound to loopback, shared by the whole session."""
    from lakehouse.seaweed import SeaweedS3

    server = SeaweedS3()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def s3_root(s3_server, monkeypatch) -> str:  # type: ignore[no-untyped-def]
    """A fresh ``s3://bucket/prefix`` root with credentials exported to the environment."""
    bucket = "lake-" + secrets.token_hex(4)
    s3_server.create_bucket(bucket)
    root = f"s3://{bucket}/lakehouse"
    for k, v in s3_server.env(root).items():
        monkeypatch.setenv(k, v)
    return root


@pytest.fixture()
def local_root(tmp_path, monkeypatch) -> str:  # type: ignore[no-untyped-def]
    """A fresh local lakehouse root, with any S3 settings of the caller's shell removed."""
    for k in _S3_ENV_KEYS:
        monkeypatch.delenv(k, raising=False)
    root = str(tmp_path / "lakehouse")
    monkeypatch.setenv("LAKEHOUSE_ROOT", root)
    return root
