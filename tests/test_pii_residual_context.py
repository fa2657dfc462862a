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
