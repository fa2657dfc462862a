"""A small hand-made published release (manifest + shards) for the review tests: no dbt build needed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

CRISIS = "I have been thinking about killing myself lately."
SAFE_REPLY = ("Thank you for telling me. Are you safe right now? You can call or text 988 any time; "
              "I'm here with you.")


def make_records(n_per_family: int = 12) -> list[dict[str, Any]]:
    recs = []
    fams = [("mental_health_datasets", 1, False), ("edge_case_synthetic", 3, True), ("roleplay_simulator", 7, False)]
    for fam, stage, edge in fams:
        for i in range(n_per_family):
            user = CRISIS if i % 4 == 0 else f"I keep worrying about work, day {i}, and I can't sleep."
            reply = SAFE_REPLY if i % 4 == 0 else f"That sounds exhausting. What goes through your mind at night ({i})?"
            rid = f"{fam}:src:{i}"
            quality = {"empathy": 0.72 if i % 3 == 1 else 0.95, "coherence": 0.97}
            meta = {"record_id": rid, "content_hash": hashlib.sha256(rid.encode()).hexdigest(), "family": fam,
                    "source_family": fam, "split": "train" if i % 6 else "test", "stage": stage, "phase": "B",
                    "kind": "sft", "is_training_edge_case": edge, "pii_status": "clean", "quality": quality}
            recs.append({"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": reply}],
                         "metadata": meta})
    return recs


def write_release(root: str | Path, version: str, records: list[dict[str, Any]], *, layout: str = "shards") -> Path:
    """A release folder with manifest.json (written last). layout: shards/<split>/<family>/ or <kind>/<split>/<family>/."""
    base = Path(root) / "exports" / "releases" / version
    groups: dict[str, list[bytes]] = {}
    for r in sorted(records, key=lambda r: r["metadata"]["content_hash"]):
        m = r["metadata"]
        key = (f"shards/{m['split']}/{m['family']}/part-00000.jsonl" if layout == "shards"
               else f"{m['kind']}/{m['split']}/{m['family']}/part-00000.jsonl")
        groups.setdefault(key, []).append((json.dumps(r, sort_keys=True) + "\n").encode())
    files = []
    for key, lines in sorted(groups.items()):
        p = base / key
        p.parent.mkdir(parents=True, exist_ok=True)
        data = b"".join(lines)
        p.write_bytes(data)
        files.append({"key": key, "bytes": len(data), "records": len(lines), "sha256": hashlib.sha256(data).hexdigest()})
    cur = json.dumps({"version": version, "seed": 42, "phases": []}).encode()
    (base / "curriculum.json").write_bytes(cur)
    files.append({"key": "curriculum.json", "bytes": len(cur), "records": 0, "sha256": hashlib.sha256(cur).hexdigest()})
    by_family: dict[str, int] = {}
    for r in records:
        by_family[r["metadata"]["family"]] = by_family.get(r["metadata"]["family"], 0) + 1
    manifest = {"format": "lakehouse-release/1", "version": version, "seed": 42,
                "counts": {"records": len(records), "by_family": by_family, "by_split": {}, "by_kind": {"sft": len(records)}},
                "files": sorted(files, key=lambda f: f["key"])}
    (base / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return base
