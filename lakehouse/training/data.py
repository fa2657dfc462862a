"""Release shards -> ``datasets`` objects, reading through ``Storage`` line by line (local or S3 via boto3).

Only the payload column(s) of a kind are kept (``metadata`` is dropped while reading, never parsed into
Arrow), so families of one stage always share columns and can be interleaved. Map-style datasets are
materialised into an Arrow cache keyed by the files' sha256; streaming datasets are
``IterableDataset.from_generator`` and never hold more than a buffer. Either way each file is re-hashed
while it is read and a mismatch at end of file raises (the manifest check already ran before training).
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import TYPE_CHECKING, Any, Iterator

from lakehouse.storage import Storage
from lakehouse.training.release import Release, ReleaseIntegrityError, StageSpec, open_lines

if TYPE_CHECKING:
    from datasets import Dataset, Features, IterableDataset

log = logging.getLogger(__name__)

PAYLOAD_COLUMNS = {"sft": ("messages",), "pretrain": ("text",), "preference": ("prompt", "chosen", "rejected"),
                   "kto": ("messages", "label")}
MIX_STRATEGIES = ("all_exhausted_without_replacement", "first_exhausted", "all_exhausted")


def kind_features(kind: str) -> "Features":
    from datasets import Features, List, Value

    messages = List({"role": Value("string"), "content": Value("string")})
    if kind == "sft":
        return Features({"messages": messages})
    if kind == "pretrain":
        return Features({"text": Value("string")})
    if kind == "preference":
        return Features({"prompt": messages, "chosen": messages, "rejected": messages})
    if kind == "kto":  # TRL's unpaired preference format (conversational)
        return Features({"prompt": messages, "completion": messages, "label": Value("bool")})
    raise ValueError(f"unknown record kind {kind!r}")


def _messages(value: Any) -> list[dict[str, str]]:
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in value]


def extract_payload(record: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The training columns of one record, or None if it does not carry this kind's payload."""
    cols = PAYLOAD_COLUMNS[kind]
    if any(record.get(c) is None for c in cols):
        return None
    if kind == "pretrain":
        return {"text": str(record["text"])}
    if kind == "kto":  # messages + label: the last assistant turn is the (un)desirable completion
        msgs = _messages(record["messages"])
        if len(msgs) < 2 or msgs[-1]["role"] != "assistant":
            return None
        return {"prompt": msgs[:-1], "completion": msgs[-1:], "label": bool(record["label"])}
    return {c: _messages(record[c]) for c in cols}


def iter_payloads(files: list[dict[str, str]], kind: str, root: str) -> Iterator[dict[str, Any]]:
    """Yield payloads of ``files`` ([{key, uri, sha256}]) in order; re-check each file's sha256 at its end."""
    storage = Storage.from_env(root=root)
    for f in files:
        h = hashlib.sha256()
        kept = skipped = 0
        with open_lines(storage, f["uri"]) as fh:
            for line in fh:
                h.update(line)
                if not line.strip():
                    continue
                payload = extract_payload(json.loads(line), kind)
                if payload is None:
                    skipped += 1
                    continue
                kept += 1
                yield payload
        if h.hexdigest() != f["sha256"]:
            raise ReleaseIntegrityError(f"{f['key']} changed while training read it (sha256 differs from manifest.json)")
        log.debug("read %s: %d %s records, %d of another kind skipped", f["key"], kept, kind, skipped)


def _family_files(release: Release, keys: tuple[str, ...]) -> list[dict[str, str]]:
    entries = release.entries()
    return [{"key": k, "uri": release.file_uri(k), "sha256": entries[k].sha256}
            for k in keys if entries[k].records != 0]


def family_dataset(release: Release, kind: str, keys: tuple[str, ...], *, streaming: bool,
                   cache_dir: str | None) -> "Dataset | IterableDataset | None":
    from datasets import Dataset, IterableDataset

    files = _family_files(release, keys)
    if not files:
        return None
    kwargs = {"files": files, "kind": kind, "root": release.storage.root}
    if streaming:
        return IterableDataset.from_generator(iter_payloads, features=kind_features(kind), gen_kwargs=kwargs)
    return Dataset.from_generator(iter_payloads, features=kind_features(kind), gen_kwargs=kwargs, cache_dir=cache_dir)


def stage_dataset(release: Release, spec: StageSpec, *, streaming: bool, seed: int,
                  mix_strategy: str = MIX_STRATEGIES[0], cache_dir: str | None = None,
                  shuffle_buffer: int = 1000) -> "Dataset | IterableDataset":
    """One dataset for a stage: its families interleaved with the curriculum's family weights (seeded)."""
    from datasets import interleave_datasets

    parts: list[Any] = []
    weights: list[float] = []
    for fam in spec.families:
        ds = family_dataset(release, spec.kind, fam.files, streaming=streaming, cache_dir=cache_dir)
        if ds is None or (not streaming and len(ds) == 0):
            continue
        parts.append(ds)
        weights.append(max(fam.weight, 0.0))
    if not parts:
        raise ValueError(f"{spec.dirname} ({spec.name}) has no {spec.kind} records in the release's train split")
    if len(parts) == 1:
        out = parts[0]
    else:
        total = sum(weights)
        if total <= 0:
            raise ValueError(f"{spec.dirname}: family weights sum to {total}")
        out = interleave_datasets(parts, probabilities=[w / total for w in weights], seed=seed,
                                  stopping_strategy=mix_strategy)  # type: ignore[arg-type]
    if streaming and shuffle_buffer > 1:
        out = out.shuffle(seed=seed, buffer_size=shuffle_buffer)
    n = "streaming" if streaming else str(len(out))
    log.info("%s: %d families mixed, %s records", spec.dirname, len(parts), n)
    return out
