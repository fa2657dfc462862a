"""Synthetic releases for the training tests, written exactly per docs/release-format.md.

Until the real exporter lands, ``write_release`` builds a small, learnable release folder: therapy-ish
conversations from a few fixed templates (repeated patterns, so a tiny model's loss falls fast), a
pretraining family, a preference family, a curriculum with phase A, two SFT stages and phase C, and a
manifest listing every file with bytes, record count and sha256 (written last).

Importable from the training tests (``from test_training_helpers import write_release``); the few
tests at the bottom check the helper itself against the contract.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any, Iterator

import pytest

VERSION = "v2026-01-01"
SEED = 42

EMOTIONS = ["anxious", "sad", "overwhelmed", "lonely", "angry", "stressed"]
TOPICS = ["work", "my family", "school", "my health", "money", "my friends"]
SYSTEM = "You are a warm, supportive counselor."


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _dump(rec: dict[str, Any]) -> str:
    return json.dumps(rec, sort_keys=True, ensure_ascii=False)


def _metadata(kind: str, family: str, split: str, phase: str, stage: int | None, n: int, payload: Any) -> dict[str, Any]:
    content_hash = _sha(json.dumps(payload, sort_keys=True).encode())
    return {
        "record_id": f"{family}-{split}-{n:05d}",
        "kind": kind,
        "source_name": f"synthetic_{family}",
        "source_family": family,
        "source_key": f"raw/synthetic_{family}/data.jsonl",
        "file_sha256": _sha(family.encode()),
        "row_number": n,
        "landing_id": f"landing-{family}",
        "license_tag": "cc-by-4.0",
        "content_hash": content_hash,
        "split": split,
        "phase": phase,
        "stage": stage,
        "is_training_edge_case": family == "edge_cases",
        "pii_status": "clean",
    }


def sft_messages(rng: random.Random, style: str = "reflect") -> list[dict[str, str]]:
    e, t = rng.choice(EMOTIONS), rng.choice(TOPICS)
    if style == "reflect":
        reply = f"It sounds like {t} has been making you feel {e}. That is hard. What helps when you feel {e}?"
    else:  # a second, equally regular pattern for stage 2
        reply = f"Feeling {e} about {t} makes sense. Let us take one slow breath together, then talk about {t}."
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"I feel {e} about {t}."},
        {"role": "assistant", "content": reply},
    ]


def preference_payload(rng: random.Random) -> dict[str, Any]:
    e, t = rng.choice(EMOTIONS), rng.choice(TOPICS)
    return {
        "prompt": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"I feel {e} about {t}."}],
        "chosen": [{"role": "assistant", "content": f"It sounds like {t} has been making you feel {e}. I am here with you."}],
        "rejected": [{"role": "assistant", "content": "Just get over it, everyone has problems."}],
    }


def pretrain_text(rng: random.Random) -> str:
    e, t = rng.choice(EMOTIONS), rng.choice(TOPICS)
    return (f"In today's session we talk about feeling {e} about {t}. When you feel {e}, notice your breath. "
            f"Name the feeling, then name one small step you can take about {t}.")


# family -> (kind, phase, stage, payload builder)
FAMILIES: dict[str, tuple[str, str, int | None]] = {
    "video_transcripts": ("pretrain", "A", None),
    "mental_health_datasets": ("sft", "B", 1),
    "edge_cases": ("sft", "B", 2),
    "psychology_books": ("sft", "B", 2),
    "preference_pairs": ("preference", "C", None),
}


def _payload(kind: str, family: str, rng: random.Random) -> dict[str, Any]:
    if kind == "pretrain":
        return {"text": pretrain_text(rng)}
    if kind == "preference":
        return preference_payload(rng)
    return {"messages": sft_messages(rng, "reflect" if family == "mental_health_datasets" else "breathe")}


def _records(family: str, split: str, n: int, seed: int) -> list[dict[str, Any]]:
    kind, phase, stage = FAMILIES[family]
    rng = random.Random(f"{seed}-{family}-{split}")
    out = []
    for i in range(n):
        payload = _payload(kind, family, rng)
        out.append({**payload, "metadata": _metadata(kind, family, split, phase, stage, i, payload)})
    out.sort(key=lambda r: r["metadata"]["content_hash"])  # shards are ordered by content_hash
    return out


def _lines(records: list[dict[str, Any]]) -> bytes:
    return "".join(_dump(r) + "\n" for r in records).encode()


def write_release(root: str | Path, version: str = VERSION, *, n_train: int = 64, n_val: int = 8, n_test: int = 8,
                  seed: int = SEED, shard_size: int = 10_000) -> Path:
    """Write ``<root>/exports/releases/<version>/`` and return that folder (local)."""
    rel = Path(root) / "exports" / "releases" / version
    rel.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {}
    all_records: list[dict[str, Any]] = []
    shard_keys: dict[str, dict[str, list[str]]] = {}
    counts_split: dict[str, int] = {}
    counts_family: dict[str, int] = {}
    counts_kind: dict[str, int] = {}
    counts_fs: dict[str, dict[str, int]] = {}
    sizes = {"train": n_train, "val": n_val, "test": n_test}
    for family, (kind, _phase, _stage) in FAMILIES.items():
        shard_keys[family] = {}
        for split, n in sizes.items():
            recs = _records(family, split, n, seed)
            all_records.extend(recs)
            keys = []
            for part, start in enumerate(range(0, max(len(recs), 1), shard_size)):
                chunk = recs[start:start + shard_size]
                if not chunk:
                    continue
                key = f"shards/{split}/{family}/part-{part:05d}.jsonl"
                files[key] = _lines(chunk)
                keys.append(key)
            shard_keys[family][split] = keys
            counts_split[split] = counts_split.get(split, 0) + n
            counts_family[family] = counts_family.get(family, 0) + n
            counts_kind[kind] = counts_kind.get(kind, 0) + n
            counts_fs.setdefault(family, {})[split] = n
    files["compiled/final_training_dataset.jsonl"] = _lines(all_records)

    def fam(family: str, weight: float) -> dict[str, Any]:
        return {"family": family, "weight": weight, "files": shard_keys[family]}

    curriculum = {
        "version": version,
        "seed": seed,
        "phases": [
            {"phase": "A", "name": "continued_pretraining", "kind": "pretrain",
             "stages": [{"stage": None, "name": "pretraining", "weight": 1.0, "families": [fam("video_transcripts", 1.0)]}]},
            {"phase": "B", "name": "sft", "kind": "sft",
             # listed out of order on purpose: stages are trained in ascending order
             "stages": [{"stage": 2, "name": "edge_cases_and_books", "weight": 0.4,
                         "families": [fam("edge_cases", 0.5), fam("psychology_books", 0.5)]},
                        {"stage": 1, "name": "foundation_therapeutic_dialogue", "weight": 0.6,
                         "families": [fam("mental_health_datasets", 1.0)]}]},
            {"phase": "C", "name": "preference", "kind": "preference",
             "stages": [{"stage": None, "name": "preference", "weight": 1.0, "families": [fam("preference_pairs", 1.0)]}]},
        ],
    }
    files["curriculum.json"] = json.dumps(curriculum, indent=2, sort_keys=True).encode()
    files["reports/coverage.json"] = json.dumps({f: {"rows_read": counts_family[f], "converted": {FAMILIES[f][0]: counts_family[f]},
                                                     "quarantined": {}} for f in FAMILIES}, sort_keys=True).encode()
    files["reports/stats.json"] = json.dumps({"families": counts_fs}, sort_keys=True).encode()
    files["reports/audit.json"] = json.dumps({"steps": [{"name": "export", "in": len(all_records), "out": len(all_records)}],
                                              "redactions": {}, "gates": {"pii": "pass"}}, sort_keys=True).encode()
    entries = []
    for key in sorted(files):
        data = files[key]
        (rel / key).parent.mkdir(parents=True, exist_ok=True)
        (rel / key).write_bytes(data)
        entry: dict[str, Any] = {"key": key, "bytes": len(data), "sha256": _sha(data)}
        if key.endswith(".jsonl"):
            entry["records"] = data.count(b"\n")
        entries.append(entry)
    manifest = {
        "format": "lakehouse-release/1",
        "version": version,
        "created_at": "2026-01-01T00:00:00Z",
        "git_commit": "0" * 40,
        "package_version": "0.1.0",
        "seed": seed,
        "counts": {"records": len(all_records), "by_split": counts_split, "by_family": counts_family,
                   "by_kind": counts_kind, "by_family_split": counts_fs},
        "files": entries,
    }
    (rel / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))  # written LAST
    return rel


def release_texts(release_dir: str | Path) -> Iterator[str]:
    """Every string in the release's shards: the corpus for the tiny tokenizer."""
    for p in sorted(Path(release_dir, "shards").rglob("*.jsonl")):
        for line in p.read_text().splitlines():
            rec = json.loads(line)
            if "text" in rec:
                yield rec["text"]
            for field in ("messages", "prompt", "chosen", "rejected"):
                for m in rec.get(field, []):
                    yield m["content"]


def upload_release(release_dir: str | Path, storage: Any, version: str = VERSION) -> str:
    """Copy a local release folder under ``storage``'s root (manifest last); return its URI."""
    rel = Path(release_dir)
    prefix = f"exports/releases/{version}"
    for p in sorted(rel.rglob("*")):
        if p.is_file() and p.name != "manifest.json":
            storage.put_file(p, f"{prefix}/{p.relative_to(rel).as_posix()}")
    storage.put_file(rel / "manifest.json", f"{prefix}/manifest.json")
    return storage.uri(prefix)


# -- the helper itself honours the contract ----------------------------------------------------------
def test_synthetic_release_matches_contract(tmp_path: Path) -> None:
    rel = write_release(tmp_path, n_train=6, n_val=2, n_test=2)
    manifest = json.loads((rel / "manifest.json").read_text())
    listed = {f["key"] for f in manifest["files"]}
    on_disk = {p.relative_to(rel).as_posix() for p in rel.rglob("*") if p.is_file()} - {"manifest.json"}
    assert listed == on_disk
    for f in manifest["files"]:
        data = (rel / f["key"]).read_bytes()
        assert f["bytes"] == len(data) and f["sha256"] == _sha(data)
    line = json.loads((rel / "shards/train/mental_health_datasets/part-00000.jsonl").read_text().splitlines()[0])
    assert set(line) == {"messages", "metadata"} and len(line["metadata"]["content_hash"]) == 64


@pytest.mark.train
def test_synthetic_release_loads_unchanged_with_datasets(tmp_path: Path) -> None:
    from datasets import load_dataset

    rel = write_release(tmp_path, n_train=6, n_val=2, n_test=2)
    ds = load_dataset("json", data_files=str(rel / "shards/train/mental_health_datasets/part-00000.jsonl"),
                      split="train", cache_dir=str(tmp_path / "cache"))
    assert len(ds) == 6 and "messages" in ds.column_names
