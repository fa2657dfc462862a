"""Released provenance strings are PII-scanned like message text: each distinct source_key of the
releasable records (a path below what was landed) with its redacted form (lakehouse/provenance
on lakehouse/engine). One row per source_key."""


def model(dbt, session):
    dbt.config(materialized="table")
    dbt.ref("int_conversations_releasable")  # declares the dependency
    releasable = ref("int_conversations_releasable", dbt_load_df_function=str)  # noqa: F821 (its SQL name)

    from lakehouse.engine.build import source_keys_redacted

    return source_keys_redacted(session, releasable)
