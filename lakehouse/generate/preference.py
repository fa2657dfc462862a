"""Preference pairs: for a conversation prefix ending in a client turn, ``chosen`` is a reply that passes
the crisis-handling and empathy checks, ``rejected`` a plausible but worse one (dismissive, premature
advice, or missing the risk). A pair is kept only when its ``preference_margin`` clears the registry
threshold (``min_preference_margin`` of the family in seeds/release/dataset_registry.csv, else
generators.yml ``preference.min_margin_default``).

Sources: a ChatML JSONL file (local or s3://), or a release's TRAIN records only (the curriculum's
train files of its SFT stages, each verified against the manifest), so no val or test conversation
leaks into phase C.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import random
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from lakehouse.generate import GENERATOR_VERSION, GeneratorError
from lakehouse.generate.edge_cases import canonical_hash
from lakehouse.generate.filters import PreferenceJudge
from lakehouse.generate.model import ChatModel, Messages, derive_seed, generators_config
from lakehouse.generate.runio import Progress, ResumableOutput

log = logging.getLogger(__name__)

GENERATOR = "lakehouse.generate.preference"


@dataclass(frozen=True)
class SourceRecord:
    key: str
    messages: Messages
    family: str | None = None


def min_margin(family: str | None = None, registry: str | os.PathLike[str] | None = None) -> float:
    """The family's ``min_preference_margin`` from the registry seed when that column is set, else the default."""
    from lakehouse.generate.filters import registry_row

    cfg = generators_config().get("preference") or {}
    family = family or str(cfg.get("family", "preference_pairs"))
    default = float(cfg.get("min_margin_default", 0.1))
    if registry:
        with open(registry, newline="", encoding="utf-8") as f:
            row = next((dict(r) for r in csv.DictReader(f) if r.get("family") == family), {})
    else:
        row = registry_row(family)
    v = (row.get("min_preference_margin") or "").strip()
    if not v:
        return default
    try:
        return float(v)
    except ValueError as e:
        raise GeneratorError(f"registry: min_preference_margin {v!r} of {family} is not a number") from e


def _messages_of(obj: Any) -> Messages | None:
    msgs = obj.get("messages") if isinstance(obj, dict) else None
    if not isinstance(msgs, list):
        return None
    out: Messages = []
    for m in msgs:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            return None
        out.append({"role": m["role"], "content": m["content"]})
    return out


def _record_key(obj: dict, msgs: Messages) -> str:
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    for v in (meta.get("record_id"), obj.get("id"), meta.get("content_hash")):
        if isinstance(v, (str, int)) and str(v):
            return str(v)
    return "sha256:" + canonical_hash(msgs)[:24]


def _iter_jsonl(stream: io.BufferedIOBase | Any, where: str, counts: dict[str, int],
                family: str | None = None) -> Iterator[SourceRecord]:
    for n, raw in enumerate(stream, 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError:
            counts["not_json"] = counts.get("not_json", 0) + 1
            continue
        msgs = _messages_of(obj)
        if msgs is None:
            counts["no_messages"] = counts.get("no_messages", 0) + 1
            continue
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        if meta.get("split") not in (None, "train"):
            counts["not_train"] = counts.get("not_train", 0) + 1
            continue
        yield SourceRecord(_record_key(obj, msgs), msgs, family or meta.get("family"))


def records_from_file(uri: str, counts: dict[str, int]) -> Iterator[SourceRecord]:
    """ChatML ``messages`` records of a JSONL file, local or s3:// (others are counted, not used)."""
    from lakehouse.storage import Storage

    storage = Storage.from_env()
    path = uri if uri.startswith("s3://") else os.path.abspath(os.path.expanduser(uri))
    if not storage.exists(path):
        raise GeneratorError(f"--from {uri}: no such file")
    from lakehouse.training.release import open_lines

    with open_lines(storage, path) as f:
        yield from _iter_jsonl(f, uri, counts)


def release_train_files(spec: str, families: Sequence[str] | None = None) -> tuple[Any, list[tuple[str, str]]]:
    """(release, [(family, key)]) of the train files of the release's SFT stages, verified against the manifest."""
    from lakehouse.training.release import ReleaseError, open_release, verify_files

    try:
        rel = open_release(spec)
        files: list[tuple[str, str]] = []
        for st in rel.stages("B"):
            for fam in st.families:
                if families and fam.family not in families:
                    continue
                files += [(fam.family, k) for k in fam.files]
        files = list(dict.fromkeys(files))
        verify_files(rel, [k for _, k in files])
    except ReleaseError as e:
        raise GeneratorError(str(e)) from e
    return rel, files


def records_from_release(spec: str, counts: dict[str, int], families: Sequence[str] | None = None) -> Iterator[SourceRecord]:
    from lakehouse.training.release import open_lines

    rel, files = release_train_files(spec, families)
    if not files:
        raise GeneratorError(f"release {spec} has no SFT train files" + (f" for {', '.join(families)}" if families else ""))
    for family, key in files:
        with open_lines(rel.storage, rel.file_uri(key)) as f:
            yield from _iter_jsonl(f, key, counts, family)


def prefix_positions(messages: Messages) -> list[int]:
    """Indexes i where messages[:i+1] ends with a user turn that has a non-empty text."""
    return [i for i, m in enumerate(messages) if m["role"] == "user" and m["content"].strip()]


@dataclass
class PairReport:
    sources: int = 0
    planned: int = 0
    resumed: int = 0
    written: int = 0
    dropped: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    unusable: dict[str, int] = field(default_factory=dict)


def generate_preference_pairs(model: ChatModel, records: Sequence[SourceRecord] | Iterator[SourceRecord], *, per_record: int,
                              seed: int, output: str, judge: PreferenceJudge, threshold: float,
                              source: str, progress: bool = True, total: int | None = None) -> PairReport:
    if per_record < 1:
        raise GeneratorError("--per-record must be at least 1")
    cfg = generators_config().get("preference") or {}
    chosen_sys = str(cfg.get("chosen_system") or "").strip()
    styles = {str(k): str(v).strip() for k, v in (cfg.get("rejected_styles") or {}).items()}
    if not chosen_sys or not styles:
        raise GeneratorError("generators.yml: preference.chosen_system and preference.rejected_styles are required")
    prompts_hash = canonical_hash({"chosen_system": chosen_sys, "rejected_styles": styles})
    sig = {"generator": GENERATOR, "generator_version": GENERATOR_VERSION, "model": model.identity["model"],
           "model_hash": model.identity.get("model_hash"), "model_endpoint": model.identity.get("model_endpoint"),
           "seed": seed, "sampling": model.sampling.as_dict(), "template_hash": prompts_hash}
    report = PairReport()
    report.planned = per_record * total if total is not None else 0
    style_names = sorted(styles)
    with ResumableOutput(output, sig) as out, Progress("preference-pairs", report.planned, enabled=progress) as prog:
        for rec in records:
            report.sources += 1
            positions = prefix_positions(rec.messages)
            for k in range(per_record):
                key = f"{rec.key}:{k}"
                if out.has(key):
                    report.resumed += 1
                    prog.skip()
                    continue
                if not positions:
                    out.skip(key, "no_user_turn")
                    report.dropped += 1
                    report.reasons["no_user_turn"] = report.reasons.get("no_user_turn", 0) + 1
                    prog.advance()
                    continue
                pair_seed = derive_seed(seed, rec.key, k)
                rng = random.Random(pair_seed)
                pos = rng.choice(positions)
                style = rng.choice(style_names)
                prompt = rec.messages[: pos + 1]
                convo = [m for m in prompt if m["role"] != "system"]
                chosen = model.chat([{"role": "system", "content": chosen_sys}] + convo, seed=derive_seed(pair_seed, "chosen"))
                rejected = model.chat([{"role": "system", "content": styles[style]}] + convo,
                                      seed=derive_seed(pair_seed, "rejected"))
                reasons: list[tuple[str, str]] = []
                if not chosen.strip() or not rejected.strip():
                    reasons.append(("empty_reply", "chosen" if not chosen.strip() else "rejected"))
                elif chosen.strip() == rejected.strip():
                    reasons.append(("identical_replies", ""))
                result = None
                if not reasons:
                    result = judge(prompt, chosen, rejected)
                    reasons += list(result.reasons)
                    if not result.chosen_passed and not result.reasons:
                        reasons.append(("chosen_failed", ""))
                    if result.margin < threshold:
                        reasons.append(("margin_below_threshold", f"{result.margin:.3f}<{threshold}"))
                for code, _ in reasons:
                    report.reasons[code] = report.reasons.get(code, 0) + 1
                if reasons or result is None:
                    out.skip(key, "filtered", [list(x) for x in reasons])
                    report.dropped += 1
                    prog.advance()
                    continue
                meta = {**sig, "family": cfg.get("family", "preference_pairs"), "source": source,
                        "source_record": rec.key, "source_family": rec.family, "prefix_turns": pos + 1,
                        "rejected_style": style, "record_seed": pair_seed, "min_preference_margin": threshold,
                        "generation_key": key, "generation_filter": "passed"}
                if result.scores:
                    meta["generation_filter_scores"] = dict(result.scores)
                pid = "pref-" + hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()[:16]
                out.write(key, {"id": pid, "prompt": prompt,
                                "chosen": [{"role": "assistant", "content": chosen}],
                                "rejected": [{"role": "assistant", "content": rejected}],
                                "preference_margin": round(float(result.margin), 3), "metadata": meta})
                report.written += 1
                prog.advance()
    return report
