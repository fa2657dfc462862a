"""Near-duplicate detection: MinHash LSH over the non-system text of conversations.

``near_duplicate_clusters`` takes Arrow batches (record_id, text, rank_key) and returns one row
per record with its cluster and survivor; ``near_duplicate_removals`` turns that into the
explanation table (removed_id, kept_id, jaccard). Settings live in ``lakehouse/config/dedup.yml``.

``text`` is the user/assistant content of a conversation (:func:`conversation_text`); only its
lowercased letter/digit tokens matter, so turns may be joined by any non-word separator (e.g.
``string_agg(content, chr(10))`` in SQL gives the same clusters). One call over the whole table::

    reader = con.sql("select record_id, text, rank_key from dedup_input").to_arrow_reader(50_000)
    clusters = near_duplicate_clusters(reader)          # record_id, cluster_id, is_survivor, kept_id, jaccard
    removals = near_duplicate_removals(clusters)        # removed_id, kept_id, jaccard
"""

from __future__ import annotations

from lakehouse.dedup.config import DedupConfig, load_dedup_config
from lakehouse.dedup.near import input_batch, near_duplicate_clusters, near_duplicate_removals
from lakehouse.dedup.text import conversation_text, jaccard, normalized_hash, shingles, tokens

__all__ = [
    "DedupConfig",
    "conversation_text",
    "input_batch",
    "jaccard",
    "load_dedup_config",
    "near_duplicate_clusters",
    "near_duplicate_removals",
    "normalized_hash",
    "shingles",
    "tokens",
]
