"""Seeded synthetic therapy-style conversations with planted exact / near / cross-family duplicates.

Every record is ChatML-shaped::

    {"messages": [{"role": "system"|"user"|"assistant", "content": str}, ...],
     "family": str, "synthetic_id": str,
     "planted": {"kind": "original"|"exact_dup"|"near_dup"|"cross_family_copy", "of": id|None}}

Originals are 4+ alternating turns filled from sentence templates and word lists
(:mod:`lakehouse.synth.banks`), 70-220 words of user/assistant text; most share their family's
system prompt. Copies always point (``of``) at an original generated earlier in the stream.

* ``exact_dup``: the original's messages unchanged, same family.
* ``cross_family_copy``: the original's user/assistant turns unchanged, in another family with
  that family's system prompt (only the system prompt differs).
* ``near_dup``: edit levels, applied to the user/assistant text only:

  - word edits: ``round(U(0.5%, 2%) * words)`` edits (at least one), each a substitution (50%),
    insertion (25%) or deletion (25%) of one word;
  - with probability 0.3 two adjacent sentences of one turn swap places;
  - with probability 0.3 the client's name is replaced by another name everywhere.

  Calibration: the exact Jaccard of word 3-shingles (:func:`lakehouse.dedup.shingles`) between
  the copy and its original must be in ``[NEAR_DUP_MIN_JACCARD, 1)``; otherwise the edits are
  redrawn at half the rate without swap/rename, then with a single word edit (which alone keeps
  Jaccard >= (S-3)/(S+3) >= 0.9 for S >= 60 shingles). So every planted near duplicate is
  truly >= 0.85, comfortably above the 0.8 default threshold.
"""

from __future__ import annotations

import json
import random
import re
import string
from collections import deque
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator

from lakehouse.synth import banks

DEFAULT_FAMILIES = ("mental_health_datasets", "professional_therapy", "roleplay_simulator", "edge_case_scenarios")
NEAR_DUP_MIN_JACCARD = 0.85
WORD_EDIT_RATE = (0.005, 0.02)
SWAP_PROBABILITY = 0.3
RENAME_PROBABILITY = 0.3
WORD_RANGE = (70, 220)
MIN_TURNS = 4
POOL_SIZE = 5000
OWN_PROMPT_SHARE = 0.9
NGRAM = 3


@dataclass(frozen=True)
class Conversation:
    """Structured conversation: turns are (role, sentences); ``name`` is the client's name."""

    family: str
    system: str | None
    turns: tuple[tuple[str, tuple[str, ...]], ...]
    name: str

    def messages(self) -> list[dict[str, str]]:
        out = [{"role": "system", "content": self.system}] if self.system else []
        return out + [{"role": role, "content": " ".join(sents)} for role, sents in self.turns]

    def text(self) -> str:
        """The non-system text, as the dedup step sees it."""
        return "\n".join(" ".join(sents) for _, sents in self.turns)


@lru_cache(maxsize=None)
def _slots(template: str) -> tuple[str, ...]:
    return tuple(f for _, f, _, _ in string.Formatter().parse(template) if f)


def _fill(rng: random.Random, template: str, name: str, persons: tuple[str, ...]) -> str:
    values = {}
    for slot in _slots(template):
        if slot == "name":
            values[slot] = name
        elif slot == "person":
            values[slot] = rng.choice(persons)
        else:
            values[slot] = rng.choice(banks.SLOT_BANKS[slot])
    text = template.format(**values)
    return text[0].upper() + text[1:]


def family_prompt(families: tuple[str, ...], family: str) -> str:
    """The system prompt most conversations of ``family`` share."""
    return banks.SYSTEM_PROMPTS[families.index(family) % len(banks.SYSTEM_PROMPTS)]


def original(rng: random.Random, family: str, system: str | None) -> Conversation:
    """A fresh conversation of 4+ alternating turns and 70-220 user/assistant words."""
    name = rng.choice(banks.NAMES)
    persons = tuple(rng.sample(banks.NAMES, 2))
    target = rng.randint(*WORD_RANGE)
    turns: list[tuple[str, tuple[str, ...]]] = []
    words = 0
    while words < target or len(turns) < MIN_TURNS or turns[-1][0] != "assistant":
        role = "user" if len(turns) % 2 == 0 else "assistant"
        templates = banks.USER_TEMPLATES if role == "user" else banks.ASSISTANT_TEMPLATES
        count = rng.randint(1, 3) if role == "user" else rng.randint(2, 4)
        sents = tuple(_fill(rng, rng.choice(templates), name, persons) for _ in range(count))
        words += sum(len(s.split()) for s in sents)
        turns.append((role, sents))
    return Conversation(family=family, system=system, turns=tuple(turns), name=name)


def _rename(conv: Conversation, new: str) -> Conversation:
    pattern = re.compile(rf"\b{re.escape(conv.name)}\b")
    turns = tuple((r, tuple(pattern.sub(new, s) for s in sents)) for r, sents in conv.turns)
    return replace(conv, turns=turns, name=new)


def _swap(rng: random.Random, conv: Conversation) -> Conversation:
    options = [i for i, (_, sents) in enumerate(conv.turns) if len(sents) >= 2]
    if not options:
        return conv
    i = rng.choice(options)
    role, sents = conv.turns[i]
    j = rng.randrange(len(sents) - 1)
    swapped = sents[:j] + (sents[j + 1], sents[j]) + sents[j + 2 :]
    return replace(conv, turns=conv.turns[:i] + ((role, swapped),) + conv.turns[i + 1 :])


def _word_edits(rng: random.Random, conv: Conversation, edits: int) -> Conversation:
    turns = [(role, [s.split(" ") for s in sents]) for role, sents in conv.turns]
    for _ in range(edits):
        slots = [(t, s) for t, (_, sents) in enumerate(turns) for s in range(len(sents))]
        t, s = rng.choice(slots)
        words = turns[t][1][s]
        k = rng.randrange(len(words))
        op = rng.choices(("sub", "ins", "del"), weights=(0.5, 0.25, 0.25))[0]
        if op == "del" and len(words) > 1:
            del words[k]
            continue
        word = rng.choice(banks.EDIT_WORDS)
        while word == words[k].strip(",.;?!").lower():
            word = rng.choice(banks.EDIT_WORDS)
        if op == "ins":
            words.insert(k, word)
        else:
            words[k] = word
    return replace(conv, turns=tuple((r, tuple(" ".join(w) for w in sents)) for r, sents in turns))


def _edit(rng: random.Random, conv: Conversation, scale: float) -> Conversation:
    out = conv
    if scale >= 1.0 and rng.random() < RENAME_PROBABILITY:
        out = _rename(out, rng.choice([n for n in banks.NAMES if n != conv.name]))
    if scale >= 1.0 and rng.random() < SWAP_PROBABILITY:
        out = _swap(rng, out)
    words = len(out.text().split())
    edits = max(1, round(rng.uniform(*WORD_EDIT_RATE) * scale * words))
    return _word_edits(rng, out, edits)


def near_duplicate(rng: random.Random, conv: Conversation) -> Conversation:
    """An edited copy whose exact 3-shingle Jaccard to ``conv`` is in [NEAR_DUP_MIN_JACCARD, 1)."""
    from lakehouse.dedup.text import jaccard, shingles

    base = shingles(conv.text(), NGRAM)
    for scale in (1.0, 0.5, 0.0, 0.0, 0.0, 0.0):
        cand = _edit(rng, conv, scale)
        if NEAR_DUP_MIN_JACCARD <= jaccard(base, shingles(cand.text(), NGRAM)) < 1.0:
            return cand
    raise RuntimeError("could not plant a near duplicate")  # pragma: no cover - single edits always pass


def _record(conv: Conversation, sid: str, kind: str, of: str | None) -> dict:
    return {"messages": conv.messages(), "family": conv.family, "synthetic_id": sid, "planted": {"kind": kind, "of": of}}


def generate_corpus(
    n: int,
    seed: int,
    *,
    exact_dup_rate: float = 0.05,
    near_dup_rate: float = 0.10,
    cross_family_rate: float = 0.02,
    families: tuple[str, ...] = DEFAULT_FAMILIES,
) -> Iterator[dict]:
    """Yield ``n`` records, deterministic for ``(n, seed, rates, families)``.

    Each record is a copy with the given probabilities (of a uniformly chosen original among the
    last ``POOL_SIZE``), else an original; the first record is always an original.
    """
    if exact_dup_rate + near_dup_rate + cross_family_rate > 1.0:
        raise ValueError("duplicate rates sum above 1")
    families = tuple(families)
    if not families:
        raise ValueError("need at least one family")
    rng = random.Random(seed)
    pool: deque[tuple[str, Conversation]] = deque(maxlen=POOL_SIZE)
    for i in range(n):
        sid = f"syn{seed}-{i:07d}"
        roll = rng.random()
        if pool and roll < exact_dup_rate:
            of, conv = rng.choice(pool)
            yield _record(conv, sid, "exact_dup", of)
        elif pool and roll < exact_dup_rate + near_dup_rate:
            of, conv = rng.choice(pool)
            yield _record(near_duplicate(rng, conv), sid, "near_dup", of)
        elif pool and len(families) > 1 and roll < exact_dup_rate + near_dup_rate + cross_family_rate:
            of, conv = rng.choice(pool)
            family = rng.choice([f for f in families if f != conv.family])
            yield _record(replace(conv, family=family, system=family_prompt(families, family)), sid, "cross_family_copy", of)
        else:
            family = rng.choice(families)
            if rng.random() < OWN_PROMPT_SHARE:
                system: str | None = family_prompt(families, family)
            else:
                system = rng.choice(banks.SYSTEM_PROMPTS + (None,))
            conv = original(rng, family, system)
            pool.append((sid, conv))
            yield _record(conv, sid, "original", None)


def truth_group(record: dict) -> str:
    """The synthetic_id of the original a record is (a copy of)."""
    return record["planted"]["of"] or record["synthetic_id"]


def planted_pairs(records: Iterable[dict]) -> list[tuple[str, str]]:
    """(copy, original) synthetic_id pairs of every planted duplicate."""
    return [(r["synthetic_id"], r["planted"]["of"]) for r in records if r["planted"]["of"]]


def write_jsonl(path: str | Path, records: Iterable[dict]) -> int:
    """Write records as UTF-8 JSON Lines (``\\n`` ends, sorted keys); return how many."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False, sort_keys=True))
            fh.write("\n")
            count += 1
    return count
