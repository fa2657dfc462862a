"""Conversion of every shape to sft / preference / pretrain, with the awkward cases."""

from __future__ import annotations

import pytest

from lakehouse.shapes import Converted, ShapeOptions, convert, convert_group, load_policy, utterance_sort_key
from lakehouse.shapes.validate import Policy

O = ShapeOptions()


def one(record: dict, shape: str, options: ShapeOptions = O, policy: Policy | None = None) -> Converted:
    [c] = convert(record, shape, options, policy)
    return c


def msgs(*turns: tuple[str, str]) -> list[dict[str, str]]:
    return [{"role": r, "content": c} for r, c in turns]


# -- message lists ---------------------------------------------------------------------------
def test_chatml_with_top_level_system_and_content_parts() -> None:
    rec = {"system": "Be gentle.", "messages": [
        {"role": "user", "content": [{"type": "text", "text": "I can't sleep."}]},
        {"role": "assistant", "content": "That is hard."}]}
    assert one(rec, "chatml").messages == msgs(("system", "Be gentle."), ("user", "I can't sleep."),
                                               ("assistant", "That is hard."))


def test_non_text_content_quarantined() -> None:
    rec = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]},
                        {"role": "assistant", "content": "ok"}]}
    assert one(rec, "chatml").quarantine_reason == "non_text_content"


def test_role_list_other_names() -> None:
    rec = {"dialog": [{"speaker": "Client", "utterance": "I feel low."},
                      {"speaker": "Counsellor", "utterance": "Tell me more."},
                      {"speaker": "client", "utterance": "Since May."},
                      {"speaker": "COUNSELOR", "utterance": "Thank you."}]}
    opts = ShapeOptions(conversation_key="dialog", role_key="speaker", text_key="utterance")
    c = one(rec, "role_list", opts)
    assert [m["role"] for m in c.messages] == ["user", "assistant", "user", "assistant"]
    # keys resolved per turn when not given
    assert one(rec, "role_list", ShapeOptions(conversation_key="dialog")).messages == c.messages


def test_assistant_opening_is_kept() -> None:
    rec = {"conversations": [{"from": "gpt", "value": "Hi, I'm here to listen."},
                             {"from": "human", "value": "Thanks."}, {"from": "gpt", "value": "What's up?"}]}
    c = one(rec, "sharegpt")
    assert c.ok and c.messages[0] == {"role": "assistant", "content": "Hi, I'm here to listen."}


def test_non_alternating_merge_or_quarantine() -> None:
    rec = {"messages": msgs(("user", "One."), ("user", "Two."), ("assistant", "A."), ("assistant", "B."))}
    c = one(rec, "chatml")
    assert c.messages == msgs(("user", "One.\n\nTwo."), ("assistant", "A.\n\nB."))
    assert c.repairs["merged_turns"] == 2
    strict = Policy(consecutive_same_role="quarantine")
    assert one(rec, "chatml", policy=strict).quarantine_reason == "non_alternating"


def test_empty_turns_quarantine_or_drop() -> None:
    rec = {"messages": msgs(("user", "Hi"), ("assistant", ""), ("user", "Hello?"), ("assistant", "Sorry, yes."))}
    assert one(rec, "chatml").quarantine_reason == "empty_turn"
    c = one(rec, "chatml", policy=Policy(empty_turns="drop"))
    assert c.ok and c.messages == msgs(("user", "Hi\n\nHello?"), ("assistant", "Sorry, yes."))
    assert c.repairs["dropped_empty_turns"] == 1 and c.repairs["merged_turns"] == 1
    rec = {"messages": [{"role": "user", "content": None}, {"role": "assistant", "content": "x"}]}
    assert one(rec, "chatml").quarantine_reason == "empty_turn"


def test_unknown_and_mapped_roles() -> None:
    rec = {"messages": msgs(("narrator", "Once upon a time"), ("user", "Hi"), ("assistant", "Hello"))}
    assert one(rec, "chatml").quarantine_reason == "unknown role 'narrator'"
    assert one(rec, "chatml", ShapeOptions(role_map={"Narrator": "system"})).messages[0]["role"] == "system"
    c = one(rec, "chatml", ShapeOptions(role_map={"narrator": "drop"}))
    assert c.ok and len(c.messages) == 2 and c.repairs["dropped_role_turns"] == 1
    with pytest.raises(ValueError, match="role_map"):
        convert(rec, "chatml", ShapeOptions(role_map={"narrator": "nobody"}))


def test_missing_and_invalid_fields() -> None:
    assert one({"other": 1}, "chatml").quarantine_reason == "missing_field 'messages'"
    assert one({"messages": "hi"}, "chatml").quarantine_reason == "invalid_turns"
    assert one({"messages": [{"content": "x"}]}, "chatml").quarantine_reason == "missing_field 'role'"


def test_mojibake_and_html_repaired_in_turns() -> None:
    rec = {"messages": msgs(("user", "I donâ€™t know what to do"), ("assistant", "<p>Take a breath.</p><p>Then call.</p>"))}
    c = one(rec, "chatml")
    assert c.messages == msgs(("user", "I don’t know what to do"), ("assistant", "Take a breath.\n\nThen call."))
    assert c.repairs["mojibake"] == 1 and c.repairs["html"] == 1


def test_convert_is_deterministic() -> None:
    rec = {"messages": msgs(("user", " a  b "), ("assistant", "c"))}
    assert convert(rec, "chatml", O) == convert(rec, "chatml", O)


# -- alpaca / qa -----------------------------------------------------------------------------
def test_alpaca_with_input_system_history() -> None:
    rec = {"instruction": "Summarize.", "input": "I had a rough week.", "output": "A hard week.",
           "system": "You are supportive.", "history": [["Hi", "Hello!"]]}
    assert one(rec, "alpaca").messages == msgs(("system", "You are supportive."), ("user", "Hi"),
                                               ("assistant", "Hello!"), ("user", "Summarize.\n\nI had a rough week."),
                                               ("assistant", "A hard week."))


def test_alpaca_missing_output() -> None:
    assert one({"instruction": "Say hi", "input": ""}, "alpaca").quarantine_reason == "missing_field 'output'"
    assert one({"instruction": "", "input": "", "output": "x"}, "alpaca").quarantine_reason == "missing_field 'instruction'"


def test_qa_with_title() -> None:
    opts = ShapeOptions(question_key="questionText", answer_key="answerText", title_key="questionTitle")
    rec = {"questionTitle": "Why am I always tired?", "questionText": "I sleep 9 hours and still feel drained.",
           "answerText": "Tiredness can have many causes."}
    assert one(rec, "qa", opts).messages == msgs(
        ("user", "Why am I always tired?\n\nI sleep 9 hours and still feel drained."),
        ("assistant", "Tiredness can have many causes."))
    rec = {"questionTitle": "Feeling worthless", "questionText": "Feeling worthless, what can I do?", "answerText": "x y"}
    assert one(rec, "qa", opts).messages[0]["content"] == "Feeling worthless, what can I do?"
    assert one({"questionText": "q?", "answerText": ""}, "qa", opts).quarantine_reason == "empty_turn"


def test_qa_default_keys() -> None:
    assert one({"question": "How?", "answer": "Like this."}, "qa").messages == msgs(("user", "How?"),
                                                                                   ("assistant", "Like this."))
    assert one({"Context": "I'm sad.", "Response": "I hear you."}, "qa").ok


# -- utterance rows --------------------------------------------------------------------------
def test_utterance_rows_group() -> None:
    opts = ShapeOptions(conversation_key="conv_id", turn_key="turn", role_key="speaker", text_key="utterance")
    rows = [{"conv_id": "c1", "turn": "2", "speaker": "therapist", "utterance": "What brings you here?"},
            {"conv_id": "c1", "turn": "10", "speaker": "patient", "utterance": "Panic attacks."},
            {"conv_id": "c1", "turn": "11", "speaker": "therapist", "utterance": "When did they start?"}]
    ordered = sorted(reversed(rows), key=lambda r: utterance_sort_key(r, opts))
    [c] = convert_group(ordered, opts)
    assert c.ok and [m["role"] for m in c.messages] == ["assistant", "user", "assistant"]
    [c] = convert_group(ordered[:1], opts)
    assert c.quarantine_reason == "too_few_turns"
    [c] = convert_group([dict(ordered[0], speaker="observer")] + ordered[1:], opts)
    assert c.quarantine_reason == "unknown role 'observer'"
    with pytest.raises(ValueError, match="convert_group"):
        convert(rows[0], "utterance_rows", opts)


# -- transcripts -----------------------------------------------------------------------------
def test_transcript_with_header_continuations_and_codes() -> None:
    text = ("Session 4, 12 May\nTranscribed by staff\n\nT1: How have you been?\nC1: Not great.\n"
            "I stopped going out.\nT2: Since when?\nC2: Since March.\n")
    c = one({"text": text}, "transcript")
    assert c.messages == msgs(("assistant", "How have you been?"), ("user", "Not great.\nI stopped going out."),
                              ("assistant", "Since when?"))
    assert c.repairs["skipped_header_lines"] == 2 and c.repairs["trimmed_trailing_user"] == 1


@pytest.mark.parametrize("text", [
    "Human: I feel stuck.\n\nAssistant: What feels stuck?",
    "Client: I feel stuck.\nTherapist: What feels stuck?",
    "User: I feel stuck.\nCounselor: What feels stuck?",
    "**Patient:** I feel stuck.\n**Doctor:** What feels stuck?",
    "Human: I feel stuck. Assistant: What feels stuck?",
])
def test_transcript_label_styles(text: str) -> None:
    assert one({"transcript": text}, "transcript").messages == msgs(("user", "I feel stuck."),
                                                                    ("assistant", "What feels stuck?"))


def test_transcript_unknown_labels_are_text_not_turns() -> None:
    text = "Client: My plan:\nNote: buy milk\nTherapist: Good."
    assert one({"text": text}, "transcript").messages == msgs(("user", "My plan:\nNote: buy milk"),
                                                              ("assistant", "Good."))
    assert one({"text": "Just prose here."}, "transcript").quarantine_reason == "no_speaker_turns"


# -- preference ------------------------------------------------------------------------------
def test_preference_strings() -> None:
    c = one({"prompt": "I feel alone.", "chosen": "I'm here with you.", "rejected": "Whatever."}, "preference")
    assert c.kind == "preference" and c.ok
    assert c.prompt == msgs(("user", "I feel alone.")) and c.chosen == msgs(("assistant", "I'm here with you."))
    assert c.rejected == msgs(("assistant", "Whatever."))


def test_preference_sharegpt_dpo() -> None:
    rec = {"conversations": [{"from": "system", "value": "Be kind."}, {"from": "human", "value": "Help?"}],
           "chosen": {"from": "gpt", "value": "Of course."}, "rejected": {"from": "gpt", "value": "No."}}
    c = one(rec, "preference", ShapeOptions(conversation_key="conversations"))
    assert c.prompt == msgs(("system", "Be kind."), ("user", "Help?"))
    assert c.chosen == msgs(("assistant", "Of course.")) and c.rejected == msgs(("assistant", "No."))


def test_preference_hh_full_transcripts() -> None:
    rec = {"chosen": "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: I'm sad\n\nAssistant: I'm sorry to hear that.",
           "rejected": "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: I'm sad\n\nAssistant: Cheer up."}
    c = one(rec, "preference")
    assert c.ok and c.prompt == msgs(("user", "Hi"), ("assistant", "Hello"), ("user", "I'm sad"))
    assert c.chosen == msgs(("assistant", "I'm sorry to hear that.")) and c.rejected == msgs(("assistant", "Cheer up."))


def test_preference_message_lists_with_implicit_prompt() -> None:
    base = [{"role": "user", "content": "Hi"}]
    rec = {"chosen": base + [{"role": "assistant", "content": "Hello!"}],
           "rejected": base + [{"role": "assistant", "content": "Go away."}]}
    c = one(rec, "preference")
    assert c.prompt == msgs(("user", "Hi")) and c.chosen == msgs(("assistant", "Hello!"))
    rec["prompt"] = base  # prompt repeated inside chosen/rejected
    assert one(rec, "preference").prompt == msgs(("user", "Hi"))


def test_preference_quarantines() -> None:
    assert one({"prompt": "x", "chosen": "same", "rejected": "same"}, "preference").quarantine_reason == \
        "identical_chosen_rejected"
    hh = {"chosen": "\n\nHuman: Hi\n\nAssistant:", "rejected": "\n\nHuman: Hi\n\nAssistant: Hello"}
    assert one(hh, "preference").quarantine_reason == "empty_turn"
    assert one({"prompt": "x", "chosen": "y"}, "preference").quarantine_reason == "missing_field 'rejected'"
    assert one({"chosen": "y", "rejected": "z"}, "preference").quarantine_reason == "empty_prompt"


# -- kto / text ------------------------------------------------------------------------------
def test_kto_is_sft_with_label() -> None:
    rec = {"messages": msgs(("user", "Hi"), ("assistant", "Hey")), "label": False}
    c = one(rec, "kto")
    assert c.kind == "sft" and c.label is False and c.messages == rec["messages"]
    c = one({"prompt": "Hi", "completion": "Hey", "label": "true"}, "kto")
    assert c.label is True and c.messages == msgs(("user", "Hi"), ("assistant", "Hey"))
    assert one(dict(rec, label="maybe"), "kto").quarantine_reason == "invalid_label"


def test_text_pretrain_chunks_long_records() -> None:
    text = "A sentence that goes on. " * 400
    out = convert({"text": text}, "text", ShapeOptions(chunk_chars=1000))
    assert len(out) >= 10 and all(c.kind == "pretrain" and c.ok and len(c.text) <= 1000 for c in out)
    assert one({"text": "   "}, "text").quarantine_reason == "empty_text"
    assert one({"body": "Hello  world"}, "text", ShapeOptions(text_key="body")).text == "Hello world"


def test_non_dict_record_and_unknown_shape() -> None:
    assert one(None, "chatml").quarantine_reason == "invalid_json"  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown shape"):
        convert({}, "nope", O)


def test_policy_min_turns() -> None:
    rec = {"messages": msgs(("user", "a"), ("assistant", "b"))}
    assert one(rec, "chatml", policy=Policy(min_turns=4)).quarantine_reason == "too_few_turns"
    assert load_policy().min_turns == 2


@pytest.mark.parametrize("text,expected", [
    ("<HUMAN>: I feel anxious.\n<ASSISTANT>: Let's breathe.", None),
    ("### Human: I feel anxious.### Assistant: Let's breathe.", None),
    ("<|im_start|>user\nI feel anxious.<|im_end|>\n<|im_start|>assistant\nLet's breathe.<|im_end|>", None),
    ("<|start_header_id|>user<|end_header_id|>\n\nI feel anxious.<|eot_id|>"
     "<|start_header_id|>assistant<|end_header_id|>\n\nLet's breathe.<|eot_id|>", None),
    ("<s>[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\nI feel anxious. [/INST] Let's breathe. </s>",
     [("system", "Be kind.")]),
])
def test_transcript_chat_templates(text: str, expected: list | None) -> None:
    want = msgs(*(expected or []), ("user", "I feel anxious."), ("assistant", "Let's breathe."))
    assert one({"text": text}, "transcript").messages == want


def test_transcript_template_unknown_role() -> None:
    text = "<|im_start|>user\nHi<|im_end|><|im_start|>tool\n{}<|im_end|><|im_start|>assistant\nOk<|im_end|>"
    assert one({"text": text}, "transcript").quarantine_reason == "unknown role 'tool'"


def test_hh_role_token_inside_a_line() -> None:
    rec = {"chosen": "\n\nHuman: Hi\n\nAssistant: I was out.  Human: Where?\n\nAssistant: At the park.",
           "rejected": "\n\nHuman: Hi\n\nAssistant: I was out.  Human: Where?\n\nAssistant: Nowhere."}
    c = one(rec, "preference")
    assert c.prompt == msgs(("user", "Hi"), ("assistant", "I was out."), ("user", "Where?"))
    assert c.chosen == msgs(("assistant", "At the park."))
    # an assistant turn that merely starts with "Human:" stays text
    rec = {"chosen": "\n\nHuman: Hi\n\nAssistant: Human: is a word", "rejected": "\n\nHuman: Hi\n\nAssistant: Hello"}
    assert one(rec, "preference").chosen == msgs(("assistant", "Human: is a word"))


def test_messages_stored_as_json_text() -> None:
    rec = {"messages": '[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]'}
    assert one(rec, "chatml").messages == msgs(("user", "Hi"), ("assistant", "Hello"))


def test_qa_several_answers_in_one_record() -> None:
    out = convert({"question": "How to relax?", "answers": ["Breathe.", "Walk."]}, "qa", O)
    assert [c.messages[1]["content"] for c in out] == ["Breathe.", "Walk."]


def test_alpaca_style_preference() -> None:
    rec = {"instruction": "Rewrite kindly:", "input": "You are wrong.", "chosen": "I see it differently.",
           "rejected": "Wrong!"}
    c = one(rec, "preference", ShapeOptions(question_key="instruction", input_key="input"))
    assert c.prompt == msgs(("user", "Rewrite kindly:\n\nYou are wrong."))


def test_preference_answer_quoting_a_speaker_is_not_split() -> None:
    rec = {"prompt": "Write a dialogue.", "chosen": "Sure:\nUser: hi\nAssistant: hello", "rejected": "No."}
    c = one(rec, "preference")
    assert c.ok and c.chosen == msgs(("assistant", "Sure:\nUser: hi\nAssistant: hello"))


def test_reason_codes_are_declared() -> None:
    from lakehouse.shapes import QUARANTINE_REASONS

    bad = [
        ({"messages": msgs(("narrator", "x"), ("assistant", "y"))}, "chatml"), ({}, "chatml"), ({}, "alpaca"),
        ({"messages": "x"}, "chatml"), ({"messages": msgs(("user", "a"), ("assistant", ""))}, "chatml"),
        ({"messages": msgs(("user", "a"))}, "chatml"), ({"messages": msgs(("assistant", "a"))}, "chatml"),
        ({"text": "no speakers"}, "transcript"), ({"text": ""}, "text"), ({"chosen": "a", "rejected": "a"}, "preference"),
        ({"messages": msgs(("user", "a"), ("assistant", "b")), "label": "x"}, "kto"),
    ]
    for rec, shape in bad:
        reason = one(rec, shape).quarantine_reason
        assert reason and reason.split(" '")[0] in QUARANTINE_REASONS, reason
