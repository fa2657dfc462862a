"""Conversion of every raw unit to records (lakehouse/shapes on lakehouse/engine): roles, ftfy,
HTML, NFC, whitespace, validation. One row per unit: unit_id, converted (a list of records with
their quarantine_reason, repairs and dedup_hash, the canonical SHA-256 before redaction).
Not cached: its output is text. Runs on all cores or on Ray."""


def model(dbt, session):
    dbt.config(materialized="table")
    dbt.ref("int_raw_units")  # declares the dependency
    units = ref("int_raw_units", dbt_load_df_function=str)  # noqa: F821 (its SQL name)

    from lakehouse.engine.build import convert_units

    return convert_units(session, units, stage_name="__lh_units_converted_stage")
