"""Hashing writers: files written once, measured while written."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import IO


@dataclass
class FileEntry:
    key: str
    bytes: int
    records: int
    sha256: str

    def as_dict(self) -> dict[str, object]:
        return {"key": self.key, "bytes": self.bytes, "records": self.records, "sha256": self.sha256}


class HashingWriter:
    """Append-only binary file that tracks sha256, bytes and line count."""

    def __init__(self, path: str, key: str) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.path, self.key = path, key
        self._f: IO[bytes] = open(path, "wb", buffering=1024 * 1024)
        self._h = hashlib.sha256()
        self.bytes = 0
        self.records = 0

    def write_line(self, data: bytes) -> None:
        self._f.write(data)
        self._f.write(b"\n")
        self._h.update(data)
        self._h.update(b"\n")
        self.bytes += len(data) + 1
        self.records += 1

    def write_all(self, data: bytes, records: int = 0) -> None:
        self._f.write(data)
        self._h.update(data)
        self.bytes += len(data)
        self.records += records

    def close(self) -> FileEntry:
        self._f.close()
        return FileEntry(self.key, self.bytes, self.records, self._h.hexdigest())
