"""Settings resolved from the environment: one place decides where the lakehouse lives.

``LAKEHOUSE_ROOT`` picks the root: a local folder (the embedded default, ``./lakehouse-data``)
or ``s3://bucket/prefix``. S3 credentials come from the standard ``AWS_*`` variables, with the
data team's ``OVH_S3_*`` / ``DATASET_STORAGE_BACKEND`` names accepted as fallbacks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

DEFAULT_LOCAL_ROOT = "lakehouse-data"


class ConfigError(ValueError):
    """A setting is missing or contradictory; the message says which and how to fix it."""


@dataclass(frozen=True)
class S3Settings:
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    region: str = "us-east-1"
    session_token: str | None = None

    @property
    def allow_http(self) -> bool:
        return bool(self.endpoint_url and self.endpoint_url.startswith("http://"))


@dataclass(frozen=True)
class Settings:
    """Where the lakehouse is and how to reach it."""

    root: str
    s3: S3Settings = field(default_factory=S3Settings)

    @property
    def is_s3(self) -> bool:
        return self.root.startswith("s3://")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, root: str | None = None) -> "Settings":
        env = os.environ if env is None else env
        s3 = S3Settings(
            endpoint_url=env.get("AWS_ENDPOINT_URL") or env.get("AWS_ENDPOINT_URL_S3") or env.get("OVH_S3_ENDPOINT") or None,
            access_key_id=env.get("AWS_ACCESS_KEY_ID") or env.get("OVH_S3_ACCESS_KEY") or None,
            secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or env.get("OVH_S3_SECRET_KEY") or None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or env.get("OVH_S3_REGION") or "us-east-1",
            session_token=env.get("AWS_SESSION_TOKEN") or None,
        )
        chosen = root or env.get("LAKEHOUSE_ROOT") or ""
        if not chosen:
            backend = (env.get("DATASET_STORAGE_BACKEND") or "local").strip().lower()
            if backend == "s3":
                bucket = env.get("OVH_S3_BUCKET") or env.get("LAKEHOUSE_S3_BUCKET")
                if not bucket:
                    raise ConfigError(
                        "DATASET_STORAGE_BACKEND=s3 needs a bucket: set LAKEHOUSE_ROOT=s3://bucket/prefix or OVH_S3_BUCKET"
                    )
                chosen = f"s3://{bucket}/lakehouse"
            elif backend == "local":
                chosen = DEFAULT_LOCAL_ROOT
            else:
                raise ConfigError(f"DATASET_STORAGE_BACKEND must be 'local' or 's3', got {backend!r}")
        return cls(root=normalize_root(chosen), s3=s3)


def normalize_root(root: str) -> str:
    """Absolute local path, or ``s3://bucket/prefix`` without a trailing slash."""
    root = root.strip()
    if root.startswith("s3a://"):
        root = "s3://" + root[len("s3a://"):]
    if root.startswith("s3://"):
        rest = root[len("s3://"):].strip("/")
        if not rest:
            raise ConfigError("LAKEHOUSE_ROOT=s3:// needs a bucket name")
        return "s3://" + rest
    if "://" in root and not root.startswith("file://"):
        raise ConfigError(f"unsupported LAKEHOUSE_ROOT scheme: {root!r} (use a local path or s3://bucket/prefix)")
    if root.startswith("file://"):
        root = root[len("file://"):]
    return str(Path(root).expanduser().resolve())


# --- policy YAMLs: packaged defaults, overridable from a folder -------------------------------------

CONFIG_DIR_ENV = "LAKEHOUSE_CONFIG_DIR"
PACKAGED_CONFIG_DIR = Path(__file__).resolve().parent / "config"


def config_path(name: str, env: Mapping[str, str] | None = None) -> Path:
    """The policy YAML ``name`` (e.g. ``privacy.yml``): ``$LAKEHOUSE_CONFIG_DIR/<name>`` when that file
    exists, otherwise the packaged default. Every YAML loader of the library resolves through here."""
    env = os.environ if env is None else env
    folder = (env.get(CONFIG_DIR_ENV) or "").strip()
    if folder:
        base = Path(folder).expanduser()
        if not base.is_dir():
            raise ConfigError(f"{CONFIG_DIR_ENV}={folder} is not a folder")
        if (base / name).is_file():
            return base / name
    return PACKAGED_CONFIG_DIR / name


def config_names() -> list[str]:
    """The policy YAMLs the package ships (the set an override folder may replace)."""
    return sorted(p.name for p in PACKAGED_CONFIG_DIR.glob("*.yml"))


def config_hash(env: Mapping[str, str] | None = None) -> str:
    """sha256 over the resolved policy YAMLs (name and bytes): equal whenever the effective policy is.
    Written into release provenance; usable as part of a cache key."""
    import hashlib

    h = hashlib.sha256()
    for name in config_names():
        data = config_path(name, env).read_bytes()
        h.update(f"{name}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def config_sources(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Which file each policy YAML resolves to: ``packaged`` or the override path."""
    out = {}
    for name in config_names():
        p = config_path(name, env)
        out[name] = "packaged" if p.parent == PACKAGED_CONFIG_DIR else str(p)
    return out
