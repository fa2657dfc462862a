"""Generators for what cannot be collected: edge-case chats, preference pairs, and voice personas.

    lakehouse generate edge-cases --categories all --per-category 4 --seed 7 --model /models/m --output ec.jsonl
    lakehouse generate preference-pairs --from chats.jsonl --model http://127.0.0.1:8000/v1 --output pp.jsonl
    lakehouse persona build talk1.vtt talk2.srt --name host --output personas/

Modules: ``model`` (a local Hugging Face folder or an OpenAI-compatible endpoint), ``edge_cases``,
``preference``, ``persona``, ``filters`` (the seam to lakehouse.quality), ``runio`` (resumable
append-only JSONL output and progress). Heavy libraries (torch, transformers) are imported lazily.
"""

from __future__ import annotations

GENERATOR_VERSION = "1.0.0"


class GeneratorError(ValueError):
    """A user mistake or an unusable input/model: the message is a one-line explanation."""
