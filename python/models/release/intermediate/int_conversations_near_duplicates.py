"""Near-duplicate clusters over the exact-dedup survivors (MinHash LSH, lakehouse/dedup).

Heavy set work done once over the whole table (not per row): record batches stream from DuckDB
into ``near_duplicate_clusters``. One row per exact survivor: record_id, cluster_id (record_id of
the cluster's survivor), is_survivor, kept_id, jaccard (estimated, to the survivor).
"""


def model(dbt, session):
    dbt.config(materialized="table")
    deduplicated = dbt.ref("int_conversations_deduplicated")

    from lakehouse.dedup import near_duplicate_clusters

    threshold = dbt.config.get("near_dedup_threshold")
    source = deduplicated.query(
        "d",
        "select record_id, coalesce(dedup_text, '') as text, rank_key from d "
        "where is_exact_survivor order by record_id",
    )
    return near_duplicate_clusters(
        source.fetch_record_batch(50_000),
        threshold=float(threshold) if threshold not in (None, "", "None") else None,
    )
