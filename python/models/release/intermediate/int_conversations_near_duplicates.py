"""Near-duplicate clusters over the exact-dedup survivors (MinHash LSH, lakehouse/dedup).

Signatures are a per-record stage (lakehouse/engine, cached per sha256(dedup text) in
cache/minhash); candidate generation, verification and union-find are set work done once over
the whole table. One row per exact survivor: record_id, cluster_id (record_id of the cluster's
survivor), is_survivor, kept_id, jaccard (estimated, to the survivor).
"""


def model(dbt, session):
    dbt.config(materialized="table")
    dbt.ref("int_conversations_deduplicated")  # declares the dependency
    deduplicated = ref("int_conversations_deduplicated", dbt_load_df_function=str)  # noqa: F821 (its SQL name)

    from lakehouse.engine.build import near_duplicates

    threshold = dbt.config.get("near_dedup_threshold")
    return near_duplicates(session, deduplicated,
                           float(threshold) if threshold not in (None, "", "None") else None)
