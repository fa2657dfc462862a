"""Arrow adapter for the canonical content hash (``lakehouse.hashing``)."""

from __future__ import annotations

import pyarrow as pa

from lakehouse.hashing import content_hash


def content_hash_batch(kind: pa.Array, messages: pa.Array, prompt: pa.Array, chosen: pa.Array,
                       rejected: pa.Array, text: pa.Array, label: pa.Array) -> pa.Array:
    out: list[str | None] = []
    for k, m, p, c, r, t, lab in zip(kind.to_pylist(), messages.to_pylist(), prompt.to_pylist(), chosen.to_pylist(),
                                     rejected.to_pylist(), text.to_pylist(), label.to_pylist()):
        if k is None:
            out.append(None)
            continue
        out.append(content_hash(k, messages=m, prompt=p, chosen=c, rejected=r, text=t, label=lab))
    return pa.array(out, type=pa.string())
