"""PII findings left in each released (redacted) record: the final scan gate_pii checks. The
texts' spans come from cache/pii_spans (most were analysed during redaction), findings inside
placeholders are ignored; the released source_key's findings come from int_source_keys_redacted (cache/source_keys).
One row per released record: record_id, findings."""


def model(dbt, session):
    dbt.config(materialized="table")
    dbt.ref("release_conversations")  # declares the dependency
    dbt.ref("int_source_keys_redacted")
    released = ref("release_conversations", dbt_load_df_function=str)  # noqa: F821 (its SQL name)
    source_keys = ref("int_source_keys_redacted", dbt_load_df_function=str)  # noqa: F821

    from lakehouse.engine.build import pii_residual

    return pii_residual(session, released, source_keys)
