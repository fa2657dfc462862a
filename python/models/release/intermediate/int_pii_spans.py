"""PII spans of every distinct message text of the releasable records (lakehouse/engine, stage 1
of redaction). Keys are sha256(text); results come from the `cache/pii_spans` Delta table under
the privacy config's fingerprint, and only texts it lacks are analysed (spaCy + Presidio), on all
cores or on Ray. One row per key: key, findings (entity type, offsets, score). Never text."""


def model(dbt, session):
    dbt.config(materialized="table")
    dbt.ref("int_conversations_releasable")  # declares the dependency
    releasable = ref("int_conversations_releasable", dbt_load_df_function=str)  # noqa: F821 (its SQL name)

    from lakehouse.engine.build import pii_spans

    return pii_spans(session, releasable)
