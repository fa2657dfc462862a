"""The signoff check `lakehouse train` runs before it touches a release."""

from __future__ import annotations

import json

from lakehouse.storage import RELEASES_PREFIX, Storage


def check_release_signoff(release_spec: str, *, allow_unsigned: bool = False, storage: Storage | None = None) -> str | None:
    """None when the release has an approved signoff; a warning when it has none but ``allow_unsigned``;
    otherwise ``lakehouse.training.release.ReleaseError``. ``release_spec`` is a version under the
    lakehouse root or a release folder URI (its reviews are read from the root the folder is under)."""
    from lakehouse.review.release import ReviewError
    from lakehouse.review.signoff import require_signoff
    from lakehouse.training.release import ReleaseError, resolve_release_uri

    storage = storage or Storage.from_env()
    uri = resolve_release_uri(release_spec, storage)
    murl = f"{uri}/manifest.json"
    if not storage.exists(murl):
        return None   # open_release reports the missing release with its own error
    try:
        version = str(json.loads(storage.read_bytes(murl)).get("version") or uri.rstrip("/").rsplit("/", 1)[-1])
    except ValueError:
        return None
    suffix = f"/{RELEASES_PREFIX}/{version}"
    if uri.rstrip("/").endswith(suffix) and uri.rstrip("/")[: -len(suffix)] != storage.root:
        storage = Storage.from_env(uri.rstrip("/")[: -len(suffix)])
    try:
        return require_signoff(storage, version, allow_unsigned=allow_unsigned)
    except ReviewError as e:
        raise ReleaseError(str(e)) from e
