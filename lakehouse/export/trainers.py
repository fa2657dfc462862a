"""Trainer exports of a release: what LLaMA-Factory and Axolotl need, pointing into the release.

``lakehouse export llamafactory <version|latest> --output DIR`` writes

- ``DIR/dataset_info.json``: one entry per family and config (``lakehouse_<config>_<family>``, plus
  ``..._val`` for the validation split) whose ``file_name`` is the release's shard folder
  (``shards/<config>/<split>/<family>``, JSON Lines only), with the columns and tags LLaMA-Factory reads;
- ``DIR/converted/preference/<split>/<family>.jsonl``: preference pairs in LLaMA-Factory's (and Axolotl's)
  ranking shape, ``messages`` + one ``chosen`` + one ``rejected`` message (the release stores lists);
- ``DIR/stages/NN-<name>.yaml``: per curriculum stage, in curriculum order (phase A, the SFT stages by
  number, then DPO and KTO), the training arguments that select the stage's datasets with
  ``interleave_probs`` = the curriculum's family weights, ``mix_strategy: interleave_under``;
- ``DIR/plan.json``: the same stages and probabilities, machine-readable.

``lakehouse export axolotl`` writes per-stage Axolotl configs (``datasets:`` lists of the shard files)
and the same converted preference files and plan. Axolotl concatenates datasets; the mixing
probabilities are in ``plan.json`` and in a comment of each stage file.

The release is verified against its manifest (curriculum.json) before anything is written. Only local
releases can be exported (trainers read local files).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakehouse.training.release import Release, open_release, verify_files

TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
        "system_tag": "system"}
LF_STAGE = {"pretrain": "pt", "sft": "sft", "preference": "dpo", "kto": "kto"}
SPLIT_SUFFIX = {"train": "", "val": "_val"}


class ExportError(ValueError):
    """The release cannot be exported (not local, malformed); the message says why."""


@dataclass
class StageEntry:
    order: int
    phase: str
    stage: int | None
    name: str
    config: str                        # pretrain | sft | preference | kto
    datasets: list[str]
    probabilities: list[float]
    eval_datasets: list[str] = field(default_factory=list)
    files: dict[str, list[str]] = field(default_factory=dict)   # dataset name -> absolute file paths

    @property
    def slug(self) -> str:
        what = f"stage-{self.stage}" if self.phase == "B" else f"phase-{self.phase}-{self.config}"
        return f"{self.order:02d}-{what}"

    def as_dict(self) -> dict[str, Any]:
        return {"order": self.order, "phase": self.phase, "stage": self.stage, "name": self.name,
                "config": self.config, "trainer_stage": LF_STAGE[self.config], "datasets": self.datasets,
                "probabilities": self.probabilities, "eval_datasets": self.eval_datasets, "file": f"stages/{self.slug}.yaml"}


@dataclass
class ExportResult:
    trainer: str
    output: Path
    version: str
    datasets: int
    stages: list[StageEntry]
    converted_pairs: int = 0
    skipped_pairs: int = 0
    files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"trainer": self.trainer, "output": str(self.output), "version": self.version,
                "datasets": self.datasets, "converted_pairs": self.converted_pairs,
                "skipped_pairs": self.skipped_pairs, "stages": [s.as_dict() for s in self.stages],
                "files": self.files}


def _norm(weights: list[float]) -> list[float]:
    total = sum(weights) or 1.0
    out = [round(w / total, 6) for w in weights]
    if out:
        out[-1] = round(1.0 - sum(out[:-1]), 6)   # sum exactly 1 (LLaMA-Factory checks it)
    return out


def _config_of(key: str) -> str:
    return key.split("/")[1] if key.startswith("shards/") else ""


class _Plan:
    """The release's families per curriculum stage, with their files by split, in curriculum order."""

    def __init__(self, release: Release) -> None:
        self.release = release
        self.base = Path(release.uri)
        # (phase, stage, name, config) -> [(family, weight, {split: [keys]})]
        self.units: list[tuple[str, int | None, str, str, list[tuple[str, float, dict[str, list[str]]]]]] = []
        order = {"A": 0, "B": 1, "C": 2}
        phases = sorted(release.curriculum.get("phases") or [], key=lambda p: order.get(str(p.get("phase")), 9))
        for ph in phases:
            stages = sorted(ph.get("stages") or [], key=lambda s: (s.get("stage") is not None, s.get("stage") or 0))
            for st in stages:
                by_config: dict[str, list[tuple[str, float, dict[str, list[str]]]]] = {}
                for fam in st.get("families") or []:
                    for files in (fam.get("files") or {}, fam.get("kto_files") or {}):
                        keys = [k for ks in files.values() for k in ks]
                        if not keys:
                            continue
                        config = _config_of(keys[0])
                        by_config.setdefault(config, []).append((fam["family"], float(fam.get("weight", 1.0)),
                                                                 {s: list(v) for s, v in files.items()}))
                for config in ("pretrain", "sft", "preference", "kto"):
                    if config in by_config:
                        self.units.append((str(ph["phase"]), st.get("stage"), str(st.get("name") or ph["phase"]),
                                           config, by_config[config]))

    def keys(self) -> list[str]:
        return sorted({k for *_, fams in self.units for _, _, files in fams for ks in files.values() for k in ks})


def open_local_release(spec: str, storage: Any = None) -> Release:
    from lakehouse.export.verify import resolve_version
    from lakehouse.storage import Storage

    storage = storage or Storage.from_env()
    if not any(c in spec for c in "/\\") and not spec.startswith("."):
        spec = resolve_version(storage, spec)
    rel = open_release(spec, storage)
    if rel.uri.startswith("s3://"):
        raise ExportError(f"{rel.uri} is on S3: trainers read local files; copy the release to a local folder "
                          "(e.g. aws s3 sync) and export that folder")
    return rel


def _name(config: str, family: str, split: str = "train") -> str:
    return f"lakehouse_{config}_{family}{SPLIT_SUFFIX.get(split, '_' + split)}"


def _folder(base: Path, config: str, split: str, family: str) -> str:
    return str(base / "shards" / config / split / family)


def convert_preference(release: Release, keys: list[str], dst: Path) -> tuple[int, int]:
    """Release preference rows -> {"messages": prompt, "chosen": {...}, "rejected": {...}} (single messages).
    Pairs whose chosen or rejected hold more than one message cannot be expressed and are skipped (counted)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    written = skipped = 0
    with open(dst, "w", encoding="utf-8") as out:
        for key in keys:
            with open(Path(release.uri) / key, encoding="utf-8") as f:
                for line in f:
                    r = json.loads(line)
                    if len(r.get("chosen") or []) != 1 or len(r.get("rejected") or []) != 1:
                        skipped += 1
                        continue
                    out.write(json.dumps({"messages": r["prompt"], "chosen": r["chosen"][0],
                                          "rejected": r["rejected"][0]}, ensure_ascii=False, sort_keys=True) + "\n")
                    written += 1
    return written, skipped


def _stage_yaml(doc: dict[str, Any], comment: str = "") -> str:
    import yaml

    head = "".join(f"# {line}\n" for line in comment.splitlines())
    return head + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120)


def export_llamafactory(release: Release, output: Path) -> ExportResult:
    output = output.resolve()
    plan = _Plan(release)
    verify_files(release, plan.keys())
    base = Path(release.uri)
    info: dict[str, Any] = {}
    res = ExportResult("llamafactory", output, release.version, 0, [])
    for order, (phase, stage, name, config, fams) in enumerate(plan.units, start=1):
        names, weights, evals = [], [], []
        for family, weight, files in fams:
            for split in ("train", "val"):
                keys = files.get(split) or []
                if not keys:
                    continue
                ds = _name(config, family, split)
                if config == "preference":
                    dst = output / "converted" / "preference" / split / f"{family}.jsonl"
                    w, s = convert_preference(release, keys, dst)
                    res.converted_pairs += w
                    res.skipped_pairs += s
                    entry: dict[str, Any] = {"file_name": str(dst), "formatting": "sharegpt", "ranking": True,
                                             "columns": {"messages": "messages", "chosen": "chosen",
                                                         "rejected": "rejected"}, "tags": dict(TAGS)}
                    res.files.append(str(dst.relative_to(output)))
                elif config == "pretrain":
                    entry = {"file_name": _folder(base, config, split, family), "columns": {"prompt": "text"}}
                elif config == "kto":
                    entry = {"file_name": _folder(base, config, split, family), "formatting": "sharegpt",
                             "columns": {"messages": "messages", "kto_tag": "label"}, "tags": dict(TAGS)}
                else:
                    entry = {"file_name": _folder(base, config, split, family), "formatting": "sharegpt",
                             "columns": {"messages": "messages"}, "tags": dict(TAGS)}
                info[ds] = entry
                if split == "train":
                    names.append(ds)
                    weights.append(weight)
                else:
                    evals.append(ds)
        if not names:
            continue
        st = StageEntry(order, phase, stage, name, config, names, _norm(weights), evals)
        res.stages.append(st)
    for i, st in enumerate(res.stages, start=1):
        st.order = i
        doc: dict[str, Any] = {"stage": LF_STAGE[st.config], "dataset_dir": str(output), "dataset": ",".join(st.datasets)}
        if len(st.datasets) > 1:
            doc["interleave_probs"] = ",".join(f"{p:g}" for p in st.probabilities)
            doc["mix_strategy"] = "interleave_under"
        if st.eval_datasets:
            doc["eval_dataset"] = ",".join(st.eval_datasets)
        if st.config == "pretrain":
            doc["packing"] = True
        _write(output / "stages" / f"{st.slug}.yaml",
               _stage_yaml(doc, f"lakehouse release {release.version}: curriculum step {i} ({st.name}, phase {st.phase}).\n"
                                "Add model_name_or_path, template, finetuning_type, output_dir, ... and run:\n"
                                "llamafactory-cli train <this file + your settings>; start each step from the "
                                "previous step's output."), res)
    res.datasets = len(info)
    _write(output / "dataset_info.json", json.dumps(info, indent=2, ensure_ascii=False) + "\n", res)
    _write(output / "plan.json", json.dumps(_plan_doc(release, res), indent=2, ensure_ascii=False) + "\n", res)
    return res


def export_axolotl(release: Release, output: Path) -> ExportResult:
    output = output.resolve()
    plan = _Plan(release)
    verify_files(release, plan.keys())
    base = Path(release.uri)
    res = ExportResult("axolotl", output, release.version, 0, [])
    order = 0
    for phase, stage, name, config, fams in plan.units:
        if config == "kto":
            continue  # Axolotl's KTO loaders expect other shapes: use LLaMA-Factory or TRL for KTO
        datasets: list[dict[str, Any]] = []
        names, weights, evals = [], [], []
        for family, weight, files in fams:
            keys = files.get("train") or []
            if not keys:
                continue
            names.append(_name(config, family))
            weights.append(weight)
            if files.get("val"):
                evals.append(_name(config, family, "val"))
            if config == "preference":
                dst = output / "converted" / "preference" / "train" / f"{family}.jsonl"
                w, s = convert_preference(release, keys, dst)
                res.converted_pairs += w
                res.skipped_pairs += s
                res.files.append(str(dst.relative_to(output)))
                datasets.append({"path": str(dst), "ds_type": "json", "type": "chat_template.default",
                                 "field_messages": "messages", "field_chosen": "chosen", "field_rejected": "rejected",
                                 "message_property_mappings": {"role": "role", "content": "content"}})
                continue
            for key in keys:
                if config == "pretrain":
                    datasets.append({"path": str(base / key), "ds_type": "json", "type": "completion", "field": "text"})
                else:
                    datasets.append({"path": str(base / key), "ds_type": "json", "type": "chat_template",
                                     "field_messages": "messages",
                                     "message_property_mappings": {"role": "role", "content": "content"},
                                     "roles_to_train": ["assistant"], "train_on_eos": "turn"})
        if not datasets:
            continue
        order += 1
        st = StageEntry(order, phase, stage, name, config, names, _norm(weights), evals)
        res.stages.append(st)
        doc: dict[str, Any] = {}
        if config == "preference":
            doc["rl"] = "dpo"
        if config == "sft":
            doc["chat_template"] = "tokenizer_default"
        doc["datasets"] = datasets
        doc["shuffle_merged_datasets"] = True
        probs = ", ".join(f"{n}={p:g}" for n, p in zip(names, st.probabilities))
        _write(output / "stages" / f"{st.slug}.yaml",
               _stage_yaml(doc, f"lakehouse release {release.version}: curriculum step {order} ({name}, phase {phase}).\n"
                                f"Curriculum mixing probabilities: {probs}\n"
                                "Axolotl concatenates and shuffles datasets (no per-dataset probabilities); "
                                "see plan.json.\nAdd base_model, output_dir, ... and start each step from the "
                                "previous step's output."), res)
        res.datasets += len(datasets)
    _write(output / "plan.json", json.dumps(_plan_doc(release, res), indent=2, ensure_ascii=False) + "\n", res)
    return res


def _plan_doc(release: Release, res: ExportResult) -> dict[str, Any]:
    return {"trainer": res.trainer, "release": release.uri, "version": release.version,
            "release_content_sha256": release.content_sha256, "stages": [s.as_dict() for s in res.stages],
            "converted_pairs": res.converted_pairs, "skipped_pairs": res.skipped_pairs}


def _write(path: Path, text: str, res: ExportResult) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    res.files.append(str(path.relative_to(res.output)))


EXPORTERS = {"llamafactory": export_llamafactory, "axolotl": export_axolotl}
