"""Publish and verify versioned releases (docs/release-format.md)."""

from lakehouse.export.publish import ReleaseExists, publish_release, release_prefix
from lakehouse.export.verify import VerifyResult, list_releases, load_manifest, verify_release

__all__ = ["ReleaseExists", "VerifyResult", "list_releases", "load_manifest", "publish_release", "release_prefix", "verify_release"]
