"""One storage interface over a local folder or an S3 prefix.

Keys are ``/``-separated paths relative to the lakehouse root (``raw/counsel_chat``,
``exports/releases/v1/manifest.json``). The same layout exists under either root.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO, Any, Iterator

from lakehouse.config import Settings

RAW_PREFIX = "raw"
CURATED_PREFIX = "curated"
QUARANTINE_PREFIX = "quarantine"
CATALOG_PREFIX = "catalog"
RELEASES_PREFIX = "exports/releases"
# prefixes that hold original (unredacted) text: owner-only locally, data-engineering role only on S3
PRIVATE_PREFIXES = (RAW_PREFIX, QUARANTINE_PREFIX)


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> (``bucket``, ``a/b``)."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len("s3://"):].partition("/")
    return bucket, key


_S3_CREDENTIAL_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken",
                        "AuthorizationHeaderMalformed", "403", "Forbidden"}


def describe_error(exc: BaseException, settings: "Settings | None" = None) -> str:
    """One line naming the cause of a storage (or any) failure, for a CLI error: S3 unreachable,
    S3 credentials refused, missing bucket, else the exception's type and first line."""
    endpoint = (settings.s3.endpoint_url if settings is not None else None) or "the S3 endpoint"
    seen: set[int] = set()
    e: BaseException | None = exc
    chain: list[BaseException] = []
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        chain.append(e)
        e = e.__cause__ or e.__context__
    for err in chain:
        name = type(err).__name__
        text = str(err)
        code = ""
        response = getattr(err, "response", None)
        if isinstance(response, dict):
            code = str(response.get("Error", {}).get("Code", ""))
        if name in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError") or \
                "Connection refused" in text or "error trying to connect" in text or "dns error" in text:
            return f"cannot reach S3 at {endpoint} (connection failed: is the server up and AWS_ENDPOINT_URL right?)"
        if code in _S3_CREDENTIAL_CODES or name in ("NoCredentialsError", "PartialCredentialsError") or \
                any(c in text for c in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403 Forbidden")):
            why = code or name
            return (f"S3 at {endpoint} refused the credentials ({why}): check AWS_ACCESS_KEY_ID / "
                    "AWS_SECRET_ACCESS_KEY (or OVH_S3_ACCESS_KEY / OVH_S3_SECRET_KEY)")
        if code in ("NoSuchBucket",) or "NoSuchBucket" in text:
            return f"S3 bucket not found at {endpoint} ({code or 'NoSuchBucket'}): check LAKEHOUSE_ROOT"
    first = (str(exc).strip().splitlines() or [""])[0]
    if len(first) > 300:
        first = first[:297] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


@dataclass
class Storage:
    """Read and write objects under the lakehouse root, and describe it to delta-rs and DuckDB."""

    settings: Settings

    @classmethod
    def from_env(cls, root: str | None = None) -> "Storage":
        return cls(Settings.from_env(root=root))

    @property
    def root(self) -> str:
        return self.settings.root

    @property
    def is_s3(self) -> bool:
        return self.settings.is_s3

    def uri(self, *parts: str) -> str:
        """Absolute URI (local path or s3://) of a key under the root."""
        key = "/".join(p.strip("/") for p in parts if p)
        return f"{self.root}/{key}" if key else self.root

    # -- clients -----------------------------------------------------------------------
    @cached_property
    def s3(self) -> Any:
        import boto3
        from botocore.config import Config

        s = self.settings.s3
        return boto3.client(
            "s3",
            endpoint_url=s.endpoint_url,
            aws_access_key_id=s.access_key_id,
            aws_secret_access_key=s.secret_access_key,
            aws_session_token=s.session_token,
            region_name=s.region,
            config=Config(s3={"addressing_style": "path"},
                          retries={"max_attempts": int(os.environ.get("LAKEHOUSE_S3_MAX_ATTEMPTS", "5")),
                                   "mode": "standard"}),
        )

    def delta_storage_options(self) -> dict[str, str] | None:
        """Options for ``deltalake`` (delta-rs object_store names)."""
        if not self.is_s3:
            return None
        s = self.settings.s3
        opts = {"AWS_REGION": s.region, "AWS_S3_ALLOW_UNSAFE_RENAME": "true"}
        if s.endpoint_url:
            opts["AWS_ENDPOINT_URL"] = s.endpoint_url
            opts["AWS_ALLOW_HTTP"] = "true" if s.allow_http else "false"
            opts["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] = "false"
        if s.access_key_id:
            opts["AWS_ACCESS_KEY_ID"] = s.access_key_id
        if s.secret_access_key:
            opts["AWS_SECRET_ACCESS_KEY"] = s.secret_access_key
        if s.session_token:
            opts["AWS_SESSION_TOKEN"] = s.session_token
        return opts

    # -- object operations (keys relative to the root, or absolute URIs) -------------
    def _resolve(self, key_or_uri: str) -> str:
        if key_or_uri.startswith("s3://") or os.path.isabs(key_or_uri):
            return key_or_uri
        return self.uri(key_or_uri)

    def exists(self, key: str) -> bool:
        uri = self._resolve(key)
        if uri.startswith("s3://"):
            bucket, k = split_s3_uri(uri)
            try:
                self.s3.head_object(Bucket=bucket, Key=k)
                return True
            except self.s3.exceptions.ClientError as e:  # type: ignore[attr-defined]
                if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return False
                raise
        return os.path.exists(uri)

    def read_bytes(self, key: str) -> bytes:
        with self.open_read(key) as f:
            return f.read()

    def open_read(self, key: str) -> IO[bytes]:
        """A streaming binary reader (never loads the object whole)."""
        uri = self._resolve(key)
        if uri.startswith("s3://"):
            bucket, k = split_s3_uri(uri)
            try:
                body = self.s3.get_object(Bucket=bucket, Key=k)["Body"]
            except self.s3.exceptions.NoSuchKey as e:  # type: ignore[attr-defined]
                raise FileNotFoundError(uri) from e
            return _StreamingBodyIO(body)
        return open(uri, "rb")

    def size(self, key: str) -> int:
        uri = self._resolve(key)
        if uri.startswith("s3://"):
            bucket, k = split_s3_uri(uri)
            return int(self.s3.head_object(Bucket=bucket, Key=k)["ContentLength"])
        return os.path.getsize(uri)

    def write_bytes(self, key: str, data: bytes) -> None:
        uri = self._resolve(key)
        if uri.startswith("s3://"):
            bucket, k = split_s3_uri(uri)
            self.s3.put_object(Bucket=bucket, Key=k, Body=data)
            return
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        tmp = f"{uri}.tmp-{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, uri)

    def put_file(self, local_path: str | os.PathLike[str], key: str) -> None:
        """Copy a local file to a key (multipart upload on S3, atomic rename locally)."""
        uri = self._resolve(key)
        if uri.startswith("s3://"):
            bucket, k = split_s3_uri(uri)
            self.s3.upload_file(str(local_path), bucket, k)
            return
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        tmp = f"{uri}.tmp-{os.getpid()}"
        shutil.copyfile(local_path, tmp)
        os.replace(tmp, uri)

    def list(self, prefix: str) -> Iterator[str]:
        """Keys (relative to the root) under a prefix, recursively, sorted."""
        uri = self._resolve(prefix).rstrip("/")
        if uri.startswith("s3://"):
            bucket, k = split_s3_uri(uri)
            root_key = split_s3_uri(self.root)[1] if self.is_s3 else ""
            paginator = self.s3.get_paginator("list_objects_v2")
            keys: list[str] = []
            for page in paginator.paginate(Bucket=bucket, Prefix=k + "/" if k else ""):
                for obj in page.get("Contents", []):
                    full = obj["Key"]
                    keys.append(full[len(root_key) + 1:] if root_key and full.startswith(root_key + "/") else full)
            yield from sorted(keys)
            return
        base = Path(self.root)
        p = Path(uri)
        if not p.exists():
            return
        yield from sorted(str(f.relative_to(base)).replace(os.sep, "/") for f in p.rglob("*") if f.is_file())

    def list_dirs(self, prefix: str) -> list[str]:
        """Immediate child folder names under a prefix."""
        uri = self._resolve(prefix).rstrip("/")
        if uri.startswith("s3://"):
            bucket, k = split_s3_uri(uri)
            out: set[str] = set()
            paginator = self.s3.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=bucket, Prefix=(k + "/") if k else "", Delimiter="/"):
                for cp in page.get("CommonPrefixes", []):
                    out.add(cp["Prefix"].rstrip("/").rsplit("/", 1)[-1])
            return sorted(out)
        p = Path(uri)
        return sorted(c.name for c in p.iterdir() if c.is_dir()) if p.exists() else []

    def delete_prefix(self, prefix: str) -> None:
        uri = self._resolve(prefix).rstrip("/")
        if uri.startswith("s3://"):
            bucket, k = split_s3_uri(uri)
            paginator = self.s3.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=bucket, Prefix=k + "/"):
                objs = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if objs:
                    self.s3.delete_objects(Bucket=bucket, Delete={"Objects": objs})
            return
        shutil.rmtree(uri, ignore_errors=True)

    def ensure_root(self) -> None:
        """Create the local root folder (with owner-only ``raw/`` and ``quarantine/``), or the bucket
        if the S3 server lacks it."""
        if not self.is_s3:
            Path(self.root).mkdir(parents=True, exist_ok=True)
            for prefix in PRIVATE_PREFIXES:
                self.private_dir(prefix)
            return
        bucket, _ = split_s3_uri(self.root)
        try:
            self.s3.head_bucket(Bucket=bucket)
        except Exception:
            self.s3.create_bucket(Bucket=bucket)

    def private_dir(self, prefix: str) -> None:
        """Create (or restrict) a local folder under the root to owner-only access (0700): the
        prefixes that keep original, unredacted text. On S3 access is a bucket-policy matter (README)."""
        if self.is_s3:
            return
        p = Path(self.uri(prefix))
        p.mkdir(mode=0o700, parents=True, exist_ok=True)
        if p.stat().st_mode & 0o077:
            os.chmod(p, 0o700)

    def local_tempdir(self) -> tempfile.TemporaryDirectory[str]:
        return tempfile.TemporaryDirectory(prefix="lakehouse-")


class _StreamingBodyIO(io.RawIOBase):
    """Wrap botocore's StreamingBody as a readable file object (for gzip, csv, ijson)."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._body.read(len(b))
        n = len(data)
        b[:n] = data
        return n

    def close(self) -> None:
        try:
            self._body.close()
        finally:
            super().close()
