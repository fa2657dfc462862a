"""A name that only becomes visible to the NER once an earlier name is replaced must be redacted by
the residual pass, not left for the PII gate to fail the build on (fixtures/pii/residual_context.jsonl:
seven such conversations from a 100k-conversation scale run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FIXTURE = Path(__file__).parent / "fixtures" / "pii" / "residual_context.jsonl"


@pytest.fixture(scope="module")
def redactor():  # type: ignore[no-untyped-def]
    from lakehouse.privacy import get_redactor

    return get_redactor()


def test_released_text_passes_the_gate_scan(redactor) -> None:  # type: ignore[no-untyped-def]
    convs = [json.loads(line)["messages"] for line in FIXTURE.read_text().splitlines() if line.strip()]
    assert len(convs) == 7
    results = redactor.redact_conversations(convs)
    for res in results:
        texts = [m["content"] for m in res.messages]
        assert all(not fs for fs in redactor.scan(texts)), "the gate's final scan would find PII left"
        assert res.pii_status == "redacted"
        for name in ("Suki", "Aiko", "Esme"):
            assert all(name not in t for t in texts)


def test_a_finding_after_the_last_pass_sends_the_record_to_review(redactor, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """When the final scan of texts the last residual pass changed still finds something, the record
    is not released as redacted: it goes to review."""
    from lakehouse.privacy.findings import Finding

    conv = [{"role": "user", "content": "My sister Maria Lopez called me from Denver yesterday."}]
    real_scan = redactor.scan
    calls = {"n": 0}

    def scan(texts):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        out = real_scan(texts)
        return [fs or [Finding(entity_type="PERSON", start=0, end=2, score=0.99)] for fs in out]

    monkeypatch.setattr(redactor, "scan", scan)
    monkeypatch.setattr(redactor, "_residual_scan", lambda texts: [[Finding(entity_type="PERSON", start=0, end=2, score=0.99)]
                                                                   for _ in texts])
    res = redactor.redact_conversations([conv])[0]
    assert calls["n"] == 1 and res.pii_status == "requires_review"
