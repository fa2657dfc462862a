"""Token lengths of a stage's examples: what ``--max-length`` would cut, reported per stage.

SFT, preference and KTO examples longer than ``max_length`` lose their tail; phase A packs text with
``bfd_split`` / ``wrapped`` (long documents are split into ``max_length`` pieces, nothing is lost) unless
``bfd`` is asked for. Long sessions are never cut silently: every stage logs and records the count.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable

BATCH = 256
SPLITTING_PACKERS = ("bfd_split", "wrapped")


@dataclass
class TruncationReport:
    stage: str
    max_length: int
    examples: int = 0
    sequences: int = 0           # a pair counts twice (chosen and rejected)
    tokens: int = 0
    truncated_sequences: int = 0
    truncated_tokens: int = 0
    dropped: int = 0             # SFT: no assistant token left within max_length (the trainer drops them)
    longest: int = 0
    note: str = ""

    @property
    def share(self) -> float:
        return self.truncated_tokens / self.tokens if self.tokens else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "truncated_share": round(self.share, 6)}

    def log_line(self) -> str:
        if self.note and not self.sequences:
            return f"{self.stage}: truncation not measured ({self.note})"
        return (f"{self.stage}: {self.truncated_sequences} of {self.sequences} sequences longer than --max-length "
                f"{self.max_length}: {self.truncated_tokens} of {self.tokens} tokens truncated ({self.share:.2%}), "
                f"longest {self.longest}" + (f"; {self.dropped} left without an assistant token and dropped"
                                             if self.dropped else "") + (f"; {self.note}" if self.note else ""))


def _chat_lengths(tokenizer: Any, conversations: list[list[dict[str, str]]]) -> list[int]:
    ids = tokenizer.apply_chat_template(conversations, tokenize=True)
    if isinstance(ids, dict) or hasattr(ids, "keys"):
        ids = ids["input_ids"]
    return [len(x) for x in ids]


def sequence_lengths(batch: dict[str, list[Any]], kind: str, tokenizer: Any) -> list[int]:
    """Token count of every sequence a trainer builds from one batch of examples."""
    if kind == "pretrain":
        return [len(x) for x in tokenizer(batch["text"], add_special_tokens=False)["input_ids"]]
    if kind == "sft":
        return _chat_lengths(tokenizer, batch["messages"])
    if kind == "preference":
        convs = [p + c for p, c in zip(batch["prompt"], batch["chosen"])]
        convs += [p + r for p, r in zip(batch["prompt"], batch["rejected"])]
        return _chat_lengths(tokenizer, convs)
    if kind == "kto":
        return _chat_lengths(tokenizer, [p + c for p, c in zip(batch["prompt"], batch["completion"])])
    raise ValueError(f"unknown kind {kind!r}")


def first_reply_offsets(batch: dict[str, list[Any]], tokenizer: Any) -> list[int]:
    """SFT: tokens before the first assistant reply starts (its prompt, with the generation header)."""
    prompts = []
    for msgs in batch["messages"]:
        k = next((i for i, m in enumerate(msgs) if m["role"] == "assistant"), len(msgs))
        prompts.append(msgs[:k])
    ids = tokenizer.apply_chat_template(prompts, tokenize=True, add_generation_prompt=True)
    if isinstance(ids, dict) or hasattr(ids, "keys"):
        ids = ids["input_ids"]
    return [len(x) for x in ids]


def _batches(ds: Any) -> Iterable[dict[str, list[Any]]]:
    return ds.iter(batch_size=BATCH)


def truncation_report(stage: str, ds: Any, kind: str, tokenizer: Any, max_length: int, *,
                      packing_strategy: str | None = None) -> TruncationReport:
    """Count the tokens ``max_length`` cuts from ``ds`` (a map-style dataset; streaming is not measured)."""
    rep = TruncationReport(stage=stage, max_length=max_length)
    if not hasattr(ds, "__len__"):
        rep.note = "streaming dataset"
        return rep
    splits = kind == "pretrain" and packing_strategy in SPLITTING_PACKERS
    for batch in _batches(ds):
        lengths = sequence_lengths(batch, kind, tokenizer)
        rep.examples += len(next(iter(batch.values())))
        if kind == "sft":
            rep.dropped += sum(1 for n in first_reply_offsets(batch, tokenizer) if n >= max_length)
        for n in lengths:
            rep.sequences += 1
            rep.tokens += n
            rep.longest = max(rep.longest, n)
            if n > max_length and not splits:
                rep.truncated_sequences += 1
                rep.truncated_tokens += n - max_length
    if splits:
        rep.note = f"packing '{packing_strategy}' splits long documents into --max-length pieces: nothing is cut"
    return rep
