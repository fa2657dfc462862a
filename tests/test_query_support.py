"""Fixture lakehouse for the query/trace/docs tests (helpers only: this module holds no tests).

Three small JSONL files land in three sources: two conversations of ``peer_forum`` are exact
copies of ``clinic_notes`` conversations (landed first, so ``clinic_notes`` keeps the survivors),
one clinic line is unparseable (quarantined), one has mojibake (repaired), one an e-mail address
(redacted), and ``pair_prefs``
holds preference pairs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from pipeline_helpers import run_dbt

SYSTEM = "You are a calm, careful support assistant."
VERSION = "v-query"

_S3_KEYS = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_SESSION_TOKEN",
            "OVH_S3_ENDPOINT", "OVH_S3_ACCESS_KEY", "OVH_S3_SECRET_KEY", "OVH_S3_BUCKET", "DATASET_STORAGE_BACKEND")


def _chat(i: int, topic: str) -> dict:
    return {"id": f"c{i}", "messages": [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"I keep worrying about {topic} and it keeps me up at night (note {i})."},
        {"role": "assistant", "content": f"That sounds exhausting. What usually goes through your mind about {topic}?"},
        {"role": "user", "content": "Mostly that things will go wrong and I will not cope."},
        {"role": "assistant", "content": "Let's slow down together. Could we name one small thing you can control tonight?"},
    ]}


TOPICS = ["work", "exams", "my sister", "money", "moving house", "sleep"]
DUPLICATED = (1, 3)   # clinic_notes rows 2 and 4 reappear in peer_forum


def write_inputs(base: Path) -> dict[str, Path]:
    """The three input files; returns their paths by name."""
    base.mkdir(parents=True, exist_ok=True)
    clinic = [json.dumps(_chat(i, t)) for i, t in enumerate(TOPICS)]
    clinic[-1] = clinic[-1].replace("Mostly that", "Mostly that I\u00e2\u20ac\u2122m sure")   # mojibake of I’m
    # PII (placed where the clinical coherence score of the conversation stays above its family's threshold)
    clinic[0] = clinic[0].replace("I keep worrying about work", "I am jane.doe@example.org. I keep worrying about work")
    clinic.insert(4, '{"id": "broken", "messages": [')          # row 5: unparseable -> quarantine
    peer = [json.dumps({**_chat(i, TOPICS[i]), "id": f"peer-{i}"}) for i in DUPLICATED]
    peer += [json.dumps(_chat(10 + i, t)) for i, t in enumerate(["friends", "grief"])]
    prefs = [json.dumps({"prompt": f"How can I calm down before {t}?",
                         "chosen": f"That sounds really stressful, and it makes sense to feel tense before {t}. A slow "
                                   "breath in for four counts and out for six can help. Would you like to plan one "
                                   "small step together?",
                         "rejected": "Just stop worrying."}) for t in ("an interview", "a hard talk", "bed")]
    files = {"clinic": base / "clinic" / "notes.jsonl", "peer": base / "peer" / "chats.jsonl",
             "prefs": base / "prefs" / "pairs.jsonl"}
    for name, lines in (("clinic", clinic), ("peer", peer), ("prefs", prefs)):
        files[name].parent.mkdir(parents=True, exist_ok=True)
        files[name].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return files


def land_inputs(files: dict[str, Path], storage: object, upload_prefix: str | None = None) -> None:
    """Land clinic_notes first (survivors), then peer_forum (chats + preference pairs)."""
    from lakehouse.landing import land

    def src(name: str) -> str:
        if upload_prefix is None:
            return str(files[name])
        key = f"{upload_prefix}/{name}/{files[name].name}"
        storage.write_bytes(key, files[name].read_bytes())  # type: ignore[attr-defined]
        return storage.uri(key)  # type: ignore[attr-defined]

    for name, source, family, lic in (("clinic", "clinic_notes", "mental_health_datasets", "CC0-1.0"),
                                      ("peer", "peer_forum", "roleplay_simulator", "Apache-2.0"),
                                      ("prefs", "pair_prefs", "preference_pairs", "MIT")):
        rep = land([src(name)], source=source, family=family, license_tag=lic, storage=storage)  # type: ignore[arg-type]
        assert not rep.failed, [f.error for f in rep.failed]


@dataclass
class BuiltLakehouse:
    root: str
    env: dict[str, str]                       # the environment that reaches this root
    work: Path                                # dbt target/logs/DuckDB of the build
    files: dict[str, Path] = field(default_factory=dict)

    def storage(self):  # type: ignore[no-untyped-def]
        from lakehouse.config import Settings
        from lakehouse.storage import Storage

        return Storage(Settings.from_env(env=self.env))


def local_env(root: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _S3_KEYS}
    env["LAKEHOUSE_ROOT"] = root
    return env


def build_vars() -> dict:
    """dbt vars of the fixture builds: every required family waived (the fixture holds three families)."""
    import csv

    with open(Path(__file__).resolve().parents[1] / "seeds" / "release" / "dataset_registry.csv", newline="") as f:
        required = [r["family"] for r in csv.DictReader(f) if (r.get("required") or "").strip().lower() == "true"]
    return {"release_version": VERSION, "coverage_waivers": required}


def build(root: str, env: dict[str, str], work: Path, upload: bool = False) -> BuiltLakehouse:
    """Land the fixture inputs under ``root`` and run ``dbt build --select release``."""
    built = BuiltLakehouse(root=root, env=env, work=work)
    st = built.storage()
    st.ensure_root()
    built.files = write_inputs(work / "inputs")
    land_inputs(built.files, st, upload_prefix="incoming" if upload else None)
    res = run_dbt(work / "dbt", vars=build_vars(), env=env)
    assert res.ok, res.output[-5000:]
    return built


_BUILT: dict[str, BuiltLakehouse] = {}


def shared_local_lakehouse(tmp_path_factory) -> BuiltLakehouse:  # type: ignore[no-untyped-def]
    """The local fixture lakehouse, built at most once per test session (read-only users share it)."""
    if "local" not in _BUILT:
        work = tmp_path_factory.mktemp("query-local")
        root = str(work / "lakehouse")
        _BUILT["local"] = build(root, local_env(root), work)
    return _BUILT["local"]
