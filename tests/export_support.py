"""A built release with every config (sft, kto, preference, pretrain), shared by the export, report,
Hugging Face datasets and CLI tests (helpers only: this module holds no tests). Built at most once
per test session (one dbt build, about a minute)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipeline_helpers import REPO, run_dbt

VERSION = "v-export"
FIX = REPO / "tests" / "fixtures" / "samples"
INPUTS = [  # (path, source, family, license)
    (REPO / "samples" / "chatml", "synthetic_sessions", "mental_health_datasets", "CC0-1.0"),
    (FIX / "sharegpt" / "fastchat_dummy_conversation_subset.json", "fastchat", "roleplay_simulator", "Apache-2.0"),
    (FIX / "hh_rlhf", "hh_harmless", "preference_pairs", "MIT"),
    (FIX / "sharegpt" / "llamafactory_kto_en_demo_subset.json", "kto_demo", "preference_pairs", "Apache-2.0"),
    (FIX / "speeches_sotu" / "1990_george_bush_r.txt", "sotu", "video_transcripts", "public-domain"),
]
# the fixture does not hold every Release-0 family, and is too small for the split-fraction gate
VARS = {"release_version": VERSION, "distribution_min_records": 100000,
        "coverage_waivers": ["cot_reasoning", "edge_case_generator", "voice_persona"]}

_S3_KEYS = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_SESSION_TOKEN",
            "OVH_S3_ENDPOINT", "OVH_S3_ACCESS_KEY", "OVH_S3_SECRET_KEY", "OVH_S3_BUCKET", "DATASET_STORAGE_BACKEND")


@dataclass
class BuiltRelease:
    root: str
    env: dict[str, str]
    work: Path
    version: str = VERSION

    @property
    def path(self) -> Path:
        return Path(self.root) / "exports" / "releases" / self.version

    def storage(self):  # type: ignore[no-untyped-def]
        from lakehouse.config import Settings
        from lakehouse.storage import Storage

        return Storage(Settings.from_env(env=self.env))


def build_release(work: Path, extra_vars: dict | None = None) -> BuiltRelease:
    from lakehouse.landing import land

    root = str(work / "lakehouse")
    env = {k: v for k, v in os.environ.items() if k not in _S3_KEYS}
    env["LAKEHOUSE_ROOT"] = root
    built = BuiltRelease(root=root, env=env, work=work)
    st = built.storage()
    st.ensure_root()
    for path, source, family, lic in INPUTS:
        rep = land([str(path)], source=source, family=family, license_tag=lic, storage=st)
        assert not rep.failed, [f.error for f in rep.failed]
    res = run_dbt(work / "dbt", vars={**VARS, **(extra_vars or {})}, env=env)
    assert res.ok, res.output[-6000:]
    return built


_BUILT: dict[str, BuiltRelease] = {}


def shared_release(tmp_path_factory) -> BuiltRelease:  # type: ignore[no-untyped-def]
    """The fixture release, built once per session; tests only read it."""
    if "r" not in _BUILT:
        _BUILT["r"] = build_release(tmp_path_factory.mktemp("export-release"))
    return _BUILT["r"]
