"""Redacted payload of every releasable record (lakehouse/engine, stage 2 of redaction): the
cached spans of all of a record's messages are applied with consistent typed placeholders per
conversation (names found in one message are propagated to the others here). Also gives
pii_status, pii_redactions (counts by type, JSON) and content_hash of the redacted record."""


def model(dbt, session):
    dbt.config(materialized="table")
    dbt.ref("int_conversations_releasable")  # declares the dependency
    releasable = ref("int_conversations_releasable", dbt_load_df_function=str)  # noqa: F821 (its SQL name)
    dbt.ref("int_pii_spans")  # declares the dependency
    spans = ref("int_pii_spans", dbt_load_df_function=str)  # noqa: F821 (its SQL name)

    from lakehouse.engine.build import pii_redactions

    return pii_redactions(session, releasable, spans, stage_name="__lh_pii_redactions_stage")
