"""Clinical quality and safety scores (lakehouse/quality on lakehouse/engine) of every record that
passed the release policy, one row per dedup_hash (key). Results come from cache/quality_scores
under the scorer's fingerprint (name, version, config, embedding model); only new content is
scored."""


def model(dbt, session):
    dbt.config(materialized="table")
    dbt.ref("int_records_policy")  # declares the dependency
    policy = ref("int_records_policy", dbt_load_df_function=str)  # noqa: F821 (its SQL name)

    from lakehouse.engine.build import record_scores

    return record_scores(session, policy)
