"""Field-name vocabularies used by detection and conversion (matched case- and separator-insensitively)."""

from __future__ import annotations

import re
from typing import Iterable, Mapping

CONVERSATION_KEYS = ("messages", "conversations", "conversation", "dialog", "dialogue", "dialogs", "dialogues",
                     "turns", "utterances", "chat", "history_messages", "exchanges", "thread")
ROLE_KEYS = ("role", "from", "speaker", "author", "sender", "user_type", "speaker_role", "participant")
TURN_TEXT_KEYS = ("content", "value", "text", "utterance", "message", "body", "msg")
SYSTEM_KEYS = ("system", "system_prompt", "systemprompt")
INSTRUCTION_KEYS = ("instruction", "instructions")
INPUT_KEYS = ("input", "context_input")
OUTPUT_KEYS = ("output", "answer", "answertext", "answer_text", "response", "responsetext", "reply", "completion",
               "target", "assistant", "therapist", "counselor", "counsellor", "doctor", "a", "answers", "responses")
PROMPT_KEYS = ("prompt", "question", "questiontext", "question_text", "questionbody", "query", "instruction",
               "input", "context", "human", "user", "patient", "client", "seeker", "post", "q")
TITLE_KEYS = ("questiontitle", "question_title", "title", "subject", "headline")
CHOSEN_KEYS = ("chosen", "chosen_response", "response_chosen", "preferred", "accepted")
REJECTED_KEYS = ("rejected", "rejected_response", "response_rejected", "dispreferred")
LABEL_KEYS = ("label", "kto_label", "desirable")
TEXT_KEYS = ("text", "transcript", "content", "body", "document", "article", "passage", "dialogue", "conversation")
GROUP_KEYS = ("conv_id", "conversation_id", "conversationid", "dialog_id", "dialogue_id", "dialogid", "session_id",
              "sessionid", "thread_id", "chat_id", "conv", "dialog", "session", "episode_id")
TURN_KEYS = ("turn", "turn_id", "turn_index", "turn_idx", "turn_number", "utterance_idx", "utterance_id",
             "utterance_index", "position", "seq", "sequence", "idx", "index", "order", "step")
SPEAKER_KEYS = ("speaker", "role", "from", "author", "sender", "interlocutor", "participant", "speaker_role")
UTTERANCE_KEYS = ("utterance", "text", "content", "message", "value", "utterance_text", "body")


def norm_key(k: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(k).lower())


def first_key(record: Mapping[str, object] | Iterable[str], candidates: Iterable[str]) -> str | None:
    """The first candidate present in ``record`` (exact name first, then case/separator-insensitive)."""
    keys = list(record.keys() if isinstance(record, Mapping) else record)
    cands = list(candidates)
    for c in cands:
        if c in keys:
            return c
    normed: dict[str, str] = {}
    for k in keys:
        normed.setdefault(norm_key(k), k)
    for c in cands:
        hit = normed.get(norm_key(c))
        if hit is not None:
            return hit
    return None


# Top-level list fields that belong to a single record (a JSON object holding one of these is one record).
RECORD_LIST_KEYS = frozenset(norm_key(k) for k in CONVERSATION_KEYS + CHOSEN_KEYS + REJECTED_KEYS + PROMPT_KEYS
                             + TEXT_KEYS + ("history", "turns", "tools", "spans", "tags", "labels"))
