"""PII findings left in each released (redacted) record: the final scan gate_pii checks. The
texts' spans come from cache/pii_spans (most were analysed during redaction), findings inside
placeholders are ignored. One row per released record: record_id, findings."""


def model(dbt, session):
    dbt.config(materialized="table")
    dbt.ref("release_conversations")  # declares the dependency
    released = ref("release_conversations", dbt_load_df_function=str)  # noqa: F821 (its SQL name)

    from lakehouse.engine.build import pii_residual

    return pii_residual(session, released)
