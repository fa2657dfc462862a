"""Value types shared by the shape readers, detection and conversion."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields

SHAPES: tuple[str, ...] = (
    "chatml", "sharegpt", "role_list", "alpaca", "qa", "utterance_rows", "transcript", "preference", "kto", "text",
)
FILE_FORMATS: tuple[str, ...] = ("jsonl", "json", "csv", "parquet", "txt")
KINDS: tuple[str, ...] = ("sft", "preference", "pretrain")
ROLES: tuple[str, ...] = ("system", "user", "assistant")
# Quarantine reason codes set by convert/convert_group. Two are parameterized:
# "unknown role '<raw>'" and "missing_field '<key>'".
QUARANTINE_REASONS: tuple[str, ...] = (
    "unknown role", "missing_field", "invalid_json", "invalid_turns", "invalid_content", "non_text_content",
    "invalid_label", "invalid_history", "no_speaker_turns", "empty_text",
    "empty_turn", "non_alternating", "misplaced_system", "no_assistant_turn", "too_few_turns",
    "empty_prompt", "prompt_not_ending_with_user", "empty_completion", "completion_has_user_turn",
    "identical_chosen_rejected",
)
# Repair counters on Converted.repairs.
REPAIR_KINDS: tuple[str, ...] = (
    "mojibake", "html", "nfc", "whitespace", "merged_turns", "trimmed_trailing_user",
    "dropped_empty_turns", "dropped_role_turns", "skipped_header_lines",
)


@dataclass(frozen=True)
class ShapeOptions:
    """How to read one source; every field optional. Detection fills the keys it resolved.

    Key meaning per shape:
    - chatml/sharegpt/role_list/kto: ``conversation_key`` = the list field, ``role_key``/``text_key``
      = keys inside each turn object; kto also ``label_key``.
    - alpaca: ``question_key`` = instruction, ``input_key`` = input, ``answer_key`` = output, ``system_key``.
    - qa: ``question_key``, ``answer_key``, optional ``title_key`` (joined before the question).
    - utterance_rows: ``conversation_key`` = group id column, ``turn_key``, ``role_key``, ``text_key``;
      without ``conversation_key`` each file is one conversation (a file whose records are its turns).
    - ``role_map``: raw speaker name -> role; detection adds roles it infers from turn order for
      speaker codes that are not role names (when unambiguous; user entries win).
    - transcript/text: ``text_key`` = the field holding the text.
    - preference: ``conversation_key`` (prompt as a message list) or ``question_key`` (prompt as a
      string), ``chosen_key``/``rejected_key``; ``role_key``/``text_key`` for message objects.
    - txt files: ``chunk_chars`` (<= 0: the whole file is one record).
    """

    role_map: dict[str, str] = field(default_factory=dict)
    conversation_key: str | None = None
    turn_key: str | None = None
    role_key: str | None = None
    text_key: str | None = None
    question_key: str | None = None
    answer_key: str | None = None
    chunk_chars: int = 4000
    title_key: str | None = None
    input_key: str | None = None
    system_key: str | None = None
    chosen_key: str | None = None
    rejected_key: str | None = None
    label_key: str | None = None

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, defaults included)."""
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, s: str | None) -> "ShapeOptions":
        """Inverse of :meth:`to_json`; unknown keys are ignored, missing keys take defaults."""
        if not s:
            return cls()
        data = json.loads(s)
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        if kwargs.get("role_map") is None:
            kwargs.pop("role_map", None)
        return cls(**kwargs)

    def merged(self, **changes: object) -> "ShapeOptions":
        """A copy with ``changes`` applied where the current value is unset (user overrides win)."""
        current = asdict(self)
        kw = {k: v for k, v in changes.items() if current.get(k) in (None, {}) and v is not None}
        return self.replace(**kw)

    def replace(self, **changes: object) -> "ShapeOptions":
        data = asdict(self)
        data.update(changes)
        return ShapeOptions(**data)  # type: ignore[arg-type]


class InputError(Exception):
    """A file (or sample) that cannot be read at all: ``<source>:<line>: <reason>``."""

    def __init__(self, source: str, reason: str, line: int | None = None) -> None:
        self.source = source
        self.reason = reason
        self.line = line
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {reason}")


@dataclass
class RawRecord:
    """One record as read from a file, before shape conversion."""

    row_number: int
    line: int | None
    record: dict | None
    error: str | None = None
    raw: str | None = None        # the original text of a record that could not be parsed (kept for quarantine)


@dataclass
class ShapeDecision:
    shape: str
    options: ShapeOptions
    reason: str


@dataclass
class Converted:
    """One output record (or a quarantined one: ``quarantine_reason`` set, payload possibly partial).

    KTO rows are ``kind="sft"`` with ``label`` True/False (desirable/undesirable completion).
    """

    kind: str
    messages: list[dict] | None = None
    prompt: list[dict] | None = None
    chosen: list[dict] | None = None
    rejected: list[dict] | None = None
    text: str | None = None
    label: bool | None = None
    quarantine_reason: str | None = None
    repairs: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.quarantine_reason is None

    def payload(self) -> dict:
        """The release payload of this record's kind (no metadata)."""
        if self.kind == "sft":
            out: dict = {"messages": self.messages}
            if self.label is not None:
                out["label"] = self.label
            return out
        if self.kind == "preference":
            return {"prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected}
        return {"text": self.text}
