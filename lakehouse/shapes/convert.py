"""Shape records -> :class:`Converted` (sft / preference / pretrain), cleaned and validated.

Pure and deterministic: the output depends only on the record, the shape, the options and the
validation policy (the packaged one unless given). Quarantined records carry a reason code and
whatever payload could be built.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, MutableMapping

from lakehouse.shapes.clean import clean_text
from lakehouse.shapes.keys import (
    CHOSEN_KEYS, CONVERSATION_KEYS, INPUT_KEYS, INSTRUCTION_KEYS, LABEL_KEYS, OUTPUT_KEYS, PROMPT_KEYS,
    REJECTED_KEYS, ROLE_KEYS, SYSTEM_KEYS, TEXT_KEYS, TURN_TEXT_KEYS, first_key,
)
from lakehouse.shapes.readers import chunk_text
from lakehouse.shapes.roles import normalize_role
from lakehouse.shapes.transcript import opens_with_speaker, parse_transcript
from lakehouse.shapes.types import SHAPES, Converted, ShapeOptions
from lakehouse.shapes.validate import Policy, load_policy, validate_completion, validate_prompt, validate_sft

DROP_ROLE = "drop"  # role_map value: turns of this speaker are removed (counted as dropped_role_turns)
_VALID_ROLES = ("system", "user", "assistant", DROP_ROLE)


class _Reject(Exception):
    """Internal: the record is quarantined with this reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Raw = list[tuple[str, Any]]  # (role, raw content) after role normalization


# -- field access --------------------------------------------------------------------------------
def _get(record: Mapping[str, Any], key: str | None, candidates: tuple[str, ...]) -> Any:
    k = key if key is not None else first_key(record, candidates)
    if k is None or record.get(k) is None:
        raise _Reject(f"missing_field '{k or (candidates[0] if candidates else '?')}'")
    return record[k]


def _opt(record: Mapping[str, Any], key: str | None, candidates: tuple[str, ...]) -> Any:
    k = key or first_key(record, candidates)
    return None if k is None else record.get(k)


def content_text(value: Any) -> str:
    """A turn's content as text: strings as is, OpenAI content parts joined, numbers str()-ed."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise _Reject("invalid_content")
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dict):
        if isinstance(value.get("text"), str):
            return value["text"]
        raise _Reject("invalid_content")
    if isinstance(value, list):
        parts = []
        for p in value:
            if isinstance(p, str):
                parts.append(p)
            elif isinstance(p, dict) and p.get("type", "text") == "text" and isinstance(p.get("text"), str):
                parts.append(p["text"])
            else:
                raise _Reject("non_text_content")
        return "\n".join(parts)
    raise _Reject("invalid_content")


def _role(raw: Any, role_map: Mapping[str, str], transcript: bool = False) -> str:
    role = normalize_role(raw, role_map, transcript=transcript)
    if role is None or role not in _VALID_ROLES:
        raise _Reject(f"unknown role '{'' if raw is None else str(raw).strip()}'")
    return role


def decode_json_list(value: Any) -> Any:
    """A list stored as JSON text (CSV/Parquet exports of chat data) -> the list; anything else unchanged."""
    if isinstance(value, str) and value.lstrip().startswith("[") and value.rstrip().endswith("]"):
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        return decoded if isinstance(decoded, list) else value
    return value


def _roles(labels: list[Any], role_map: Mapping[str, str]) -> list[str]:
    """Roles of a conversation's speaker labels. An unknown label quarantines it; when none of its
    non-system labels is a role name (speaker codes), the reason names the --role-map to pass."""
    roles = [normalize_role(x, role_map) for x in labels]
    bad = [x for x, r in zip(labels, roles) if r is None or r not in _VALID_ROLES]
    if not bad:
        return roles  # type: ignore[return-value]
    first = "" if bad[0] is None else str(bad[0]).strip()
    if any(r in ("user", "assistant") for r in roles):
        raise _Reject(f"unknown role '{first}'")
    codes: list[str] = []
    for x in bad:
        c = "" if x is None else str(x).strip()
        if c not in codes:
            codes.append(c)
    if len(codes) < 2:
        raise _Reject(f"unknown role '{first}'")
    from lakehouse.shapes.roles import RoleInference

    hint = RoleInference(tuple(codes), None, "").suggestion()
    raise _Reject(f"unknown role '{first}' (speaker codes {', '.join(codes)} are not role names and their roles "
                  f"could not be inferred from turn order: land with --role-map {hint})")


def turns_from_list(turns: Any, options: ShapeOptions) -> Raw:
    """A list of turn objects (or its JSON text) -> [(role, raw content)]; unknown roles raise."""
    turns = decode_json_list(turns)
    if not isinstance(turns, list):
        raise _Reject("invalid_turns")
    labels: list[Any] = []
    texts: list[Any] = []
    for t in turns:
        if not isinstance(t, dict):
            raise _Reject("invalid_turns")
        rk = options.role_key if options.role_key in t else first_key(t, ROLE_KEYS)
        tk = options.text_key if options.text_key in t else first_key(t, TURN_TEXT_KEYS)
        if rk is None:
            raise _Reject("missing_field 'role'")
        if tk is None:
            raise _Reject("missing_field 'content'")
        labels.append(t[rk])
        texts.append(t[tk])
    return list(zip(_roles(labels, options.role_map), texts))


def _message(value: Any, options: ShapeOptions, default_role: str) -> Raw:
    """chosen/rejected/prompt/completion values: a string, a message object, or a message list."""
    value = decode_json_list(value)
    if isinstance(value, list) and all(isinstance(t, dict) for t in value):
        if value and not any(k in value[0] for k in ROLE_KEYS + ((options.role_key,) if options.role_key else ())):
            return [(default_role, v) for v in value]
        return turns_from_list(value, options)
    if isinstance(value, dict) and (options.role_key in value or first_key(value, ROLE_KEYS)):
        return turns_from_list([value], options)
    return [(default_role, value)]


# -- cleaning + validation -----------------------------------------------------------------------
def _clean(raw: Raw, repairs: MutableMapping[str, int]) -> list[dict[str, str]]:
    msgs = []
    dropped = 0
    for role, content in raw:
        if role == DROP_ROLE:
            dropped += 1
            continue
        msgs.append({"role": role, "content": clean_text(content_text(content), repairs)})
    if dropped:
        repairs["dropped_role_turns"] = repairs.get("dropped_role_turns", 0) + dropped
    return msgs


def _sft(raw: Raw, policy: Policy, label: bool | None = None) -> Converted:
    repairs: dict[str, int] = {}
    msgs = _clean(raw, repairs)
    r = validate_sft(msgs, policy, repairs)
    if isinstance(r, str):
        return Converted(kind="sft", messages=msgs, label=label, quarantine_reason=r, repairs=repairs)
    return Converted(kind="sft", messages=r, label=label, repairs=repairs)


def _with_system(raw: Raw, system: Any) -> Raw:
    if system is None or (isinstance(system, str) and not system.strip()):
        return raw
    if raw and raw[0][0] == "system":
        return raw
    return [("system", system)] + raw


# -- shapes --------------------------------------------------------------------------------------
def _conversation(record: Mapping[str, Any], options: ShapeOptions) -> Raw:
    turns = _get(record, options.conversation_key, CONVERSATION_KEYS)
    raw = turns_from_list(turns, options)
    return _with_system(raw, _opt(record, options.system_key, SYSTEM_KEYS))


def _messages_shape(record: Mapping[str, Any], options: ShapeOptions, policy: Policy) -> list[Converted]:
    return [_sft(_conversation(record, options), policy)]


def parse_label(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise _Reject("invalid_label")


def _kto(record: Mapping[str, Any], options: ShapeOptions, policy: Policy) -> list[Converted]:
    label = parse_label(_get(record, options.label_key, LABEL_KEYS))
    conv_key = options.conversation_key or first_key(record, CONVERSATION_KEYS)
    if conv_key is not None and isinstance(record.get(conv_key), list):
        raw = _conversation(record, options.replace(conversation_key=conv_key))
    else:  # TRL unpaired: prompt + completion
        prompt = _get(record, options.question_key, PROMPT_KEYS)
        completion = _get(record, options.answer_key, ("completion",) + OUTPUT_KEYS)
        raw = _message(prompt, options, "user") + _message(completion, options, "assistant")
        raw = _with_system(raw, _opt(record, options.system_key, SYSTEM_KEYS))
    return [_sft(raw, policy, label=label)]


def _alpaca(record: Mapping[str, Any], options: ShapeOptions, policy: Policy) -> list[Converted]:
    instruction = content_text(_opt(record, options.question_key, INSTRUCTION_KEYS))
    extra = content_text(_opt(record, options.input_key, INPUT_KEYS))
    if not instruction.strip() and not extra.strip():
        raise _Reject(f"missing_field '{options.question_key or 'instruction'}'")
    output = _get(record, options.answer_key, OUTPUT_KEYS)
    prompt = "\n\n".join(p for p in (instruction.strip(), extra.strip()) if p)
    raw: Raw = []
    history = record.get("history")
    if isinstance(history, list):
        for pair in history:
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
                raise _Reject("invalid_history")
            raw += [("user", pair[0]), ("assistant", pair[1])]
    raw += [("user", prompt), ("assistant", output)]
    return [_sft(_with_system(raw, _opt(record, options.system_key, SYSTEM_KEYS)), policy)]


def join_title(title: str, text: str) -> str:
    """Question title + body: the body alone when it already opens with the title."""
    t, b = title.strip(), text.strip()
    if not t:
        return b
    if not b or b.lower().startswith(t.lower().rstrip("?.!")):
        return b or t
    if t.lower().startswith(b.lower().rstrip("?.!")):
        return t
    return f"{t}\n\n{b}"


def _qa(record: Mapping[str, Any], options: ShapeOptions, policy: Policy) -> list[Converted]:
    """One sft record per answer (a list of answers gives several)."""
    question = _get(record, options.question_key, PROMPT_KEYS)
    answer = decode_json_list(_get(record, options.answer_key, OUTPUT_KEYS))
    if options.title_key and record.get(options.title_key) is not None:
        question = join_title(content_text(record[options.title_key]), content_text(question))
    answers = answer if isinstance(answer, list) and answer else [answer]
    system = _opt(record, options.system_key, ())
    return [_sft(_with_system([("user", question), ("assistant", a)], system), policy) for a in answers]


def _transcript_turns(text: str, options: ShapeOptions, repairs: MutableMapping[str, int]) -> Raw:
    turns, header = parse_transcript(text, options.role_map)
    if header:
        repairs["skipped_header_lines"] = repairs.get("skipped_header_lines", 0) + header
    return _checked_turns(turns)


def _checked_turns(turns: list[tuple[str, str, str]]) -> Raw:
    for label, role, _ in turns:
        if role not in _VALID_ROLES:
            raise _Reject(f"unknown role '{label}'")
    return [(role, content) for _, role, content in turns]


def _transcript(record: Mapping[str, Any], options: ShapeOptions, policy: Policy) -> list[Converted]:
    text = content_text(_get(record, options.text_key, TEXT_KEYS))
    pre: dict[str, int] = {}
    raw = _transcript_turns(text, options, pre)
    if not raw:
        raise _Reject("no_speaker_turns")
    out = _sft(raw, policy)
    for k, v in pre.items():
        out.repairs[k] = out.repairs.get(k, 0) + v
    return [out]


def _split_shared_prefix(prompt: Raw, chosen: Raw, rejected: Raw) -> tuple[Raw, Raw, Raw]:
    """When chosen/rejected are whole conversations, move their shared turns (up to the last
    shared user turn) into the prompt."""
    if all(r == "assistant" for r, _ in chosen + rejected):
        return prompt, chosen, rejected

    def same(a: tuple[str, Any], b: tuple[str, Any]) -> bool:
        return a[0] == b[0] and content_text(a[1]).strip() == content_text(b[1]).strip()

    k = 0
    while k < min(len(chosen), len(rejected)) and same(chosen[k], rejected[k]):
        k += 1
    while k > 0 and chosen[k - 1][0] != "user":
        k -= 1
    shared = chosen[:k]
    if prompt and len(shared) >= len(prompt) and all(same(a, b) for a, b in zip(prompt, shared)):
        prompt = []  # the prompt is repeated at the start of chosen/rejected
    return prompt + shared, chosen[k:], rejected[k:]


def _pref_value(value: Any, options: ShapeOptions) -> Raw:
    """A completion; a string opening with a speaker label is a whole transcript (Anthropic HH)."""
    if isinstance(value, str) and opens_with_speaker(value, options.role_map):
        turns, _ = parse_transcript(value, options.role_map)
        if len(turns) >= 2 and any(r == "user" for _, r, _ in turns):
            return _checked_turns(turns)
    return _message(value, options, "assistant")


def _preference(record: Mapping[str, Any], options: ShapeOptions, policy: Policy) -> list[Converted]:
    chosen_v = _get(record, options.chosen_key, CHOSEN_KEYS)
    rejected_v = _get(record, options.rejected_key, REJECTED_KEYS)
    prompt_v = _opt(record, options.conversation_key or options.question_key, PROMPT_KEYS + CONVERSATION_KEYS)
    extra = record.get(options.input_key) if options.input_key else None
    if isinstance(prompt_v, str) and isinstance(extra, str) and extra.strip():
        prompt_v = f"{prompt_v.strip()}\n\n{extra.strip()}"  # alpaca-style instruction + input
    prompt = _message(prompt_v, options, "user") if prompt_v not in (None, "", []) else []
    prompt = _with_system(prompt, _opt(record, options.system_key, SYSTEM_KEYS))
    p, c, r = _split_shared_prefix(prompt, _pref_value(chosen_v, options), _pref_value(rejected_v, options))
    repairs: dict[str, int] = {}
    pm, cm, rm = _clean(p, repairs), _clean(c, repairs), _clean(r, repairs)
    out = Converted(kind="preference", prompt=pm, chosen=cm, rejected=rm, repairs=repairs)
    for part, check in ((pm, validate_prompt), (cm, validate_completion), (rm, validate_completion)):
        res = check(part, policy, repairs)
        if isinstance(res, str):
            out.quarantine_reason = res
            return [out]
        part[:] = res
    if policy.reject_identical_pairs and cm == rm:
        out.quarantine_reason = "identical_chosen_rejected"
    return [out]


def _text(record: Mapping[str, Any], options: ShapeOptions, policy: Policy) -> list[Converted]:
    text = content_text(_get(record, options.text_key, TEXT_KEYS))
    out = []
    for chunk in chunk_text(text, options.chunk_chars) if options.chunk_chars > 0 else [text]:
        repairs: dict[str, int] = {}
        cleaned = clean_text(chunk, repairs)
        out.append(Converted(kind="pretrain", text=cleaned, repairs=repairs,
                             quarantine_reason=None if cleaned else "empty_text"))
    return out or [Converted(kind="pretrain", text="", quarantine_reason="empty_text")]


_CONVERTERS = {
    "chatml": _messages_shape, "sharegpt": _messages_shape, "role_list": _messages_shape, "kto": _kto,
    "alpaca": _alpaca, "qa": _qa, "transcript": _transcript, "preference": _preference, "text": _text,
}
_KIND = {"preference": "preference", "text": "pretrain"}


def _check_role_map(options: ShapeOptions) -> None:
    bad = {k: v for k, v in options.role_map.items() if v not in _VALID_ROLES}
    if bad:
        raise ValueError(f"role_map values must be one of {_VALID_ROLES}: {bad}")


def convert(record: dict, shape: str, options: ShapeOptions, policy: Policy | None = None) -> list[Converted]:
    """One raw record of ``shape`` -> one or more Converted (several only for long ``text`` records).

    ``utterance_rows`` records are converted per conversation with :func:`convert_group`.
    """
    if shape == "utterance_rows":
        raise ValueError("utterance_rows records are converted per conversation: use convert_group(rows, options)")
    if shape not in _CONVERTERS:
        raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")
    _check_role_map(options)
    policy = policy or load_policy()
    if not isinstance(record, dict):
        return [Converted(kind=_KIND.get(shape, "sft"), quarantine_reason="invalid_json")]
    try:
        return _CONVERTERS[shape](record, options, policy)
    except _Reject as e:
        return [Converted(kind=_KIND.get(shape, "sft"), quarantine_reason=e.reason)]


def convert_group(rows: list[dict], options: ShapeOptions, policy: Policy | None = None) -> list[Converted]:
    """All rows of one utterance_rows conversation (already ordered by turn) -> one sft record."""
    _check_role_map(options)
    policy = policy or load_policy()
    try:
        labels = [_get(row, options.role_key, ROLE_KEYS) for row in rows]
        texts = [_get(row, options.text_key, TURN_TEXT_KEYS) for row in rows]
        return [_sft(list(zip(_roles(labels, options.role_map), texts)), policy)]
    except _Reject as e:
        return [Converted(kind="sft", quarantine_reason=e.reason)]


def utterance_group_id(record: Mapping[str, Any], options: ShapeOptions) -> str:
    """The conversation id of one utterance row (``options.conversation_key``) as a string; without a
    conversation_key the whole file is one conversation (id ``""``), as the build groups it."""
    if not options.conversation_key:
        return ""
    return str(record.get(options.conversation_key))


def utterance_sort_key(record: Mapping[str, Any], options: ShapeOptions, row_number: int = 0) -> tuple:
    """Order of a row inside its conversation: the turn column (numeric when it parses), then file order."""
    v = record.get(options.turn_key) if options.turn_key else None
    try:
        return (0, float(v), "", row_number)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return (1, 0.0, "" if v is None else str(v), row_number)
