"""The backend seam: a score column replaced by an OpenAI-compatible judge (a local stub server)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Iterator

import pytest

from lakehouse.quality import QualityConfigError
from lakehouse.quality.scorers import Record, get_scorer


class _Judge(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Judge.seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        reply = {"choices": [{"message": {"content": 'Sure. {"score": 0.42}'}}]}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def judge_url() -> Iterator[str]:
    srv = HTTPServer(("127.0.0.1", 0), _Judge)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}/v1"
    finally:
        srv.shutdown()
        srv.server_close()


def test_judge_backend_replaces_the_score(judge_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_GENERATOR_API_KEY", "k-test")
    s = get_scorer(embeddings=False, backends={"empathy": {"kind": "judge", "url": judge_url, "model": "stub"}})
    rec = Record("sft", messages=[{"role": "user", "content": "I feel alone."},
                                  {"role": "assistant", "content": "Just get over it."}])
    [out] = s.score_records([rec])
    assert out["empathy"] == 0.42 and out["harmful_response"]     # other columns stay built-in
    req = _Judge.seen[-1]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer k-test"
    assert req["body"]["temperature"] == 0 and "Client: I feel alone." in req["body"]["messages"][1]["content"]


def test_backend_config_errors() -> None:
    with pytest.raises(QualityConfigError):
        get_scorer(embeddings=False, backends={"empathy": {"kind": "telepathy"}})
    with pytest.raises(QualityConfigError):
        get_scorer(embeddings=False, backends={"harmful_response": {"kind": "judge", "url": "http://x"}})
    with pytest.raises(QualityConfigError):
        get_scorer(embeddings=False, backends={"empathy": {"kind": "hf_classifier", "path": "/no/such/folder"}})
