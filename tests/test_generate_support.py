"""Shared helpers for the generator tests (a stub OpenAI-compatible server on 127.0.0.1, a tiny local
model) and the tests of model access itself."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import pytest

from lakehouse.generate import GeneratorError
from lakehouse.generate.model import EndpointModel, Sampling, folder_hash, open_model

PLANTED_EMAIL = "marisol.quenby.4410@example.org"
PLANTED_PHONE = "(415) 555-0139"
_WORDS = ["today", "lately", "this week", "since Monday", "every night", "at work", "at home", "again"]


def stub_reply(body: dict) -> str:
    """Deterministic replies keyed on the system prompt (which role is asked) and the request seed."""
    msgs = body.get("messages") or []
    system = msgs[0]["content"] if msgs and msgs[0]["role"] == "system" else ""
    seed = int(body.get("seed") or 0)
    when = _WORDS[seed % len(_WORDS)]
    if "role-playing a therapy client" in system:
        m = re.search(r"Presenting problem: ([^.]*)\.|because of ([^;]*);", system)
        problem = (m.group(1) or m.group(2)) if m else "everything"
        n = sum(1 for x in msgs if x["role"] == "assistant")
        return (f"I'm here because of {problem}, and it keeps getting worse {when}. "
                f"If you need me, email {PLANTED_EMAIL} or call {PLANTED_PHONE}. (turn {n})")
    if "licensed therapist in a text-based session" in system:
        last = next((x["content"] for x in reversed(msgs) if x["role"] == "user"), "")
        gist = " ".join(last.split()[4:12])
        return (f"Thank you for telling me about {gist}. Are you safe right now, and are you having any thoughts "
                f"of suicide? You can call or text 988 at any time. What feels hardest {when}?")
    if "licensed therapist replying" in system:
        return f"That sounds really heavy, and it makes sense you feel worn down {when}. What has been weighing on you most?"
    if "dismissive" in system:
        return "It's not that bad, everyone goes through this. Just move on."
    if "immediate advice" in system:
        return "Make a list, go for a run, sleep eight hours and call a friend."
    if "misses any risk" in system:
        return "I'm sure things will work out fine! Let's talk about something more positive."
    if "Write one question" in "".join(x["content"] for x in msgs):
        return f'"What should a listener do when stress takes over {when}?"'
    return "ok"


class StubServer:
    """An OpenAI-compatible server: GET /v1/models, POST /v1/chat/completions; records what it received."""

    def __init__(self, reply: Callable[[dict], str] = stub_reply, model: str = "stub-model",
                 fail_first: int = 0) -> None:
        self.reply, self.model, self.fail_first = reply, model, fail_first
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def _send(self, code: int, obj: dict) -> None:
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                server.requests.append({"path": self.path, "auth": self.headers.get("Authorization")})
                if self.path == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": server.model, "object": "model"}]})
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                if server.fail_first > 0:
                    server.fail_first -= 1
                    self._send(503, {"error": "busy"})
                    return
                if self.path != "/v1/chat/completions":
                    self._send(404, {"error": "not found"})
                    return
                self._send(200, {"id": "x", "object": "chat.completion", "model": server.model,
                                 "choices": [{"index": 0, "finish_reason": "stop",
                                              "message": {"role": "assistant", "content": server.reply(body)}}]})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> "StubServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


TINY_TEXTS = [
    "I have been feeling anxious and I cannot sleep. Are you safe right now? You can call 988.",
    "Thank you for telling me. What feels hardest today? Let's make a plan together.",
    "My family does not understand me and I feel alone. It sounds really heavy.",
] * 20


def build_tiny(path: Path) -> Path:
    from lakehouse.training.tiny import build_tiny_model

    return build_tiny_model(TINY_TEXTS, path, vocab_size=300, max_position_embeddings=256)


# -- tests of model access --------------------------------------------------------------------------
def test_endpoint_sends_key_seed_and_sampling_and_names_the_model(monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_GENERATOR_API_KEY", "sk-test-123")
    with StubServer() as srv:
        m = open_model(srv.url, Sampling(temperature=0.5, top_p=0.9, max_new_tokens=33))
        assert m.identity == {"model": "stub-model", "model_kind": "endpoint", "model_endpoint": srv.url, "model_hash": None}
        out = m.chat([{"role": "system", "content": "You are a counsellor replying ... dismissive"},
                      {"role": "user", "content": "hi"}], seed=7)
    assert out == "It's not that bad, everyone goes through this. Just move on."
    post = [r for r in srv.requests if r["path"] == "/v1/chat/completions"][0]
    assert post["auth"] == "Bearer sk-test-123"
    assert post["body"]["seed"] == 7 and post["body"]["temperature"] == 0.5 and post["body"]["top_p"] == 0.9
    assert post["body"]["max_tokens"] == 33 and post["body"]["model"] == "stub-model"
    assert "sk-test-123" not in json.dumps(m.identity)


def test_endpoint_retries_busy_server_and_accepts_full_paths(monkeypatch):
    monkeypatch.delenv("LAKEHOUSE_GENERATOR_API_KEY", raising=False)
    with StubServer(fail_first=1) as srv:
        m = open_model(srv.url + "/chat/completions", Sampling(), model_name="given")
        assert m.identity["model"] == "given" and m.identity["model_endpoint"] == srv.url
        assert m.chat([{"role": "user", "content": "x"}], seed=1) == "ok"
        assert srv.requests[-1]["auth"] is None
        assert len([r for r in srv.requests if r["path"].endswith("/chat/completions")]) == 2


def test_model_spec_errors_are_one_line(tmp_path):
    for spec, needle in [("", "empty"), (str(tmp_path / "nope"), "no such folder"), ("s3://b/m", "local folder"),
                         (str(tmp_path), "config.json"), ("http://user:pw@127.0.0.1:9/v1", "credentials")]:
        with pytest.raises(GeneratorError, match=needle) as e:
            open_model(spec, Sampling())
        assert "\n" not in str(e.value)
    with pytest.raises(GeneratorError, match="unreachable"):
        m = EndpointModel.__new__(EndpointModel)
        m.base, m.timeout, m.retries, m._key = "http://127.0.0.1:9/v1", 1.0, 0, ""
        m._request("GET", "/models")


def test_folder_hash_sees_content_and_samples_big_files(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "w.bin").write_bytes(b"a" * 5000)
    h1 = folder_hash(tmp_path, full_limit_bytes=10_000)
    (tmp_path / "w.bin").write_bytes(b"a" * 4999 + b"b")
    assert folder_hash(tmp_path, full_limit_bytes=10_000) != h1
    # above the limit: first and last MiB only (a change in the middle is not seen, by design)
    big = bytearray(3 << 20)
    (tmp_path / "w.bin").write_bytes(bytes(big))
    h2 = folder_hash(tmp_path, full_limit_bytes=1 << 20)
    big[len(big) // 2] = 1
    (tmp_path / "w.bin").write_bytes(bytes(big))
    assert folder_hash(tmp_path, full_limit_bytes=1 << 20) == h2
    big[-1] = 1
    (tmp_path / "w.bin").write_bytes(bytes(big))
    assert folder_hash(tmp_path, full_limit_bytes=1 << 20) != h2


def test_sampling_defaults_and_validation():
    s = Sampling.defaults()
    assert s.temperature == 0.7 and s.top_p == 0.95 and s.max_new_tokens == 256 and s.do_sample
    assert Sampling.defaults(temperature=0).as_dict()["do_sample"] is False
    with pytest.raises(GeneratorError):
        Sampling.defaults(top_p=0)


def test_local_model_template_without_system_role_gets_system_text_in_the_user_turn():
    from lakehouse.generate.model import LocalModel

    class Tok:
        chat_template = "x"

        def apply_chat_template(self, messages, tokenize, add_generation_prompt):  # type: ignore[no-untyped-def]
            if messages[0]["role"] == "system":
                raise ValueError("System role not supported")
            return "|".join(f"{m['role']}:{m['content']}" for m in messages)

    m = LocalModel.__new__(LocalModel)
    m._tok = Tok()
    out = m._render([{"role": "system", "content": "S"}, {"role": "user", "content": "U"}, {"role": "assistant", "content": "A"}])
    assert out == "user:S\n\nU|assistant:A"
    m._tok.chat_template = None
    assert m._render([{"role": "user", "content": "U"}]) == "user: U\nassistant:"
