"""The UDF logic outside dbt: pure functions, then the Arrow adapters inside plain DuckDB."""

from __future__ import annotations

import json

import duckdb
import pytest

from lakehouse.hashing import HASH_RE, canonical, content_hash, normalize_whitespace, record_content_hash
from lakehouse.udf import UDFS, register_all


def test_whitespace_normalization():
    assert normalize_whitespace("  a \t b\r\n\r\n\r\n\nc  ") == "a b\n\nc"


def test_whitespace_normalization_equals_the_per_line_definition():
    """The one-line fast path gives exactly what trimming each line did (content hashes of every
    earlier release depend on it), on random text rich in every kind of Unicode whitespace."""
    import random
    import re

    ws, nl = re.compile(r"[ \t\u00a0]+"), re.compile(r"\n{3,}")

    def per_line(text: str) -> str:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = "\n".join(ws.sub(" ", line).strip() for line in text.split("\n"))
        return nl.sub("\n\n", text).strip()

    alphabet = list("ab é") + [" ", " ", "\t", "\n", "\n", "\r", "\r\n", "\u00a0", "\x0b", "\x0c", "\x1c", "\x1d",
                               "\x1e", "\x1f", "\x85", "\u1680", "\u2003", "\u2028", "\u2029", "\u202f", "\u3000",
                               "\ufeff", "\u200b", "<PERSON_1>"]
    rng = random.Random(7)
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        assert normalize_whitespace(text) == per_line(text), repr(text)


def test_hash_ignores_whitespace_and_key_order_but_not_roles():
    a = [{"role": "user", "content": "Hi  there"}, {"role": "assistant", "content": "Hello"}]
    b = [{"content": "Hi there ", "role": "user"}, {"role": "assistant", "content": "Hello\n"}]
    c = [{"role": "assistant", "content": "Hi there"}, {"role": "assistant", "content": "Hello"}]
    assert content_hash("sft", messages=a) == content_hash("sft", messages=b)
    assert content_hash("sft", messages=a) != content_hash("sft", messages=c)
    assert HASH_RE.match(content_hash("sft", messages=a))
    assert content_hash("pretrain", text="x") != content_hash("sft", messages=[{"role": "user", "content": "x"}])
    assert content_hash("sft", messages=a, label=True) != content_hash("sft", messages=a, label=False)


def test_canonical_is_compact_utf8_json():
    s = canonical("sft", messages=[{"role": "user", "content": "café"}])
    assert s == '["sft",[["user","café"]]]'
    with pytest.raises(ValueError):
        canonical("nope")


def test_release_line_hash_recomputes():
    msgs = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    line = {"messages": msgs, "metadata": {"kind": "sft", "content_hash": content_hash("sft", messages=msgs)}}
    assert record_content_hash(line) == line["metadata"]["content_hash"]
    pref = {"prompt": msgs[:1], "chosen": msgs[1:], "rejected": [{"role": "assistant", "content": "c"}],
            "metadata": {"kind": "preference"}}
    assert record_content_hash(pref) == content_hash("preference", prompt=pref["prompt"], chosen=pref["chosen"],
                                                      rejected=pref["rejected"])


@pytest.fixture()
def con():
    c = duckdb.connect()
    register_all(c)
    register_all(c)  # idempotent
    return c


def test_every_udf_registers(con):
    names = {r[0] for r in con.execute("select function_name from duckdb_functions() where function_name like 'lh_%'").fetchall()}
    assert {u.name for u in UDFS} <= names


def test_lh_convert_chatml_and_sharegpt(con):
    chatml = json.dumps({"messages": [{"role": "user", "content": "I feel low"}, {"role": "assistant", "content": "I'm here."}]})
    share = json.dumps({"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]})
    opts = '{}'
    rows = con.execute("select lh_convert(r, s, o) from (values (?, 'chatml', ?), (?, 'sharegpt', ?)) t(r, s, o)",
                       [chatml, opts, share, opts]).fetchall()
    a, b = rows[0][0], rows[1][0]
    assert a[0]["kind"] == "sft" and [m["role"] for m in a[0]["messages"]] == ["user", "assistant"]
    assert b[0]["messages"][0] == {"role": "user", "content": "hi"}
    assert a[0]["quarantine_reason"] is None


def test_lh_convert_never_raises(con):
    rows = con.execute("select lh_convert(r, 'chatml', '{}') from (values ('not json'), (null), ('{\"x\": 1}')) t(r)").fetchall()
    reasons = [r[0][0]["quarantine_reason"] for r in rows]
    assert reasons[0] == "invalid_json" and reasons[1] == "invalid_json"
    assert reasons[2]  # a record of the wrong shape is quarantined with a reason


def test_lh_content_hash_matches_python(con):
    msgs = [{"role": "user", "content": "a  b"}, {"role": "assistant", "content": "c"}]
    got = con.execute("select lh_content_hash('sft', ?::STRUCT(role VARCHAR, content VARCHAR)[], null, null, null, null, null)",
                      [msgs]).fetchone()[0]
    assert got == content_hash("sft", messages=msgs)


def test_lh_convert_group_orders_utterances(con):
    opts = json.dumps({"conversation_key": "conv", "turn_key": "turn", "role_key": "speaker", "text_key": "text"})
    rows = [json.dumps({"conv": "a", "turn": t, "speaker": s, "text": x})
            for t, s, x in [(1, "client", "I can't sleep."), (2, "therapist", "What keeps you up?")]]
    out = con.execute("select lh_convert_group(?::VARCHAR[], ?)", [rows, opts]).fetchone()[0]
    assert out[0]["kind"] == "sft" and [m["role"] for m in out[0]["messages"]] == ["user", "assistant"]


def test_lh_safety_flags_and_decision(con):
    msgs = [{"role": "user", "content": "I want to kill myself"}, {"role": "assistant", "content": "I'm here with you."}]
    calm = [{"role": "user", "content": "Work is busy."}, {"role": "assistant", "content": "Tell me more."}]
    t = "STRUCT(role VARCHAR, content VARCHAR)[]"
    a, b = (con.execute(f"select lh_safety('sft', ?::{t}, null, null, null, null)", [m]).fetchone()[0] for m in (msgs, calm))
    assert a["crisis"] is True and a["reason"] is None  # crisis language never quarantines by itself (issue 11)
    assert b["crisis"] is False and b["reason"] is None


def test_lh_build_info(con):
    info = con.execute("select lh_build_info('x')").fetchone()[0]
    from lakehouse import __version__

    assert info["package_version"] == __version__ and len(info["pii_config_hash"]) == 64 and info["pii_model"]
