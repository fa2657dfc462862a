"""Bias and cultural-competency columns (lakehouse/review/bias on lakehouse/engine) of every record
that passed the release policy, one row per dedup_hash (key): group mentions, stereotype flags,
bias score (share of model-output turns flagged: what the registry's max_bias_score limits) and
language. Results come from cache/bias_flags under the lexicon's fingerprint (bias.yml sha256,
signal version, language identifier); only new content, or everything after a lexicon change, is
computed. Flags and labels only, never text."""


def model(dbt, session):
    dbt.config(materialized="table")
    dbt.ref("int_records_policy")  # declares the dependency
    policy = ref("int_records_policy", dbt_load_df_function=str)  # noqa: F821 (its SQL name)

    from lakehouse.engine.build import record_bias

    return record_bias(session, policy)
