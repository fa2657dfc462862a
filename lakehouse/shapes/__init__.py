"""Input shapes: read raw files of any supported shape and convert records to sft / preference / pretrain.

Pure Python, no storage and no I/O beyond the stream it is handed:

1. ``iter_raw_records(open_stream, name, file_format, options)`` streams :class:`RawRecord` s from
   JSON Lines / JSON / CSV / Parquet / text (optionally gzip). Whole-file failures raise
   :class:`InputError`; a single bad line is a RawRecord with ``error``.
2. ``detect_shape(sample, options, file_format)`` -> :class:`ShapeDecision` (shape, options with the
   resolved keys, reason). Store ``decision.options.to_json()`` with every raw row.
3. ``convert(record, shape, options)`` / ``convert_group(rows, options)`` (utterance_rows, one
   conversation ordered by :func:`utterance_sort_key`, grouped by :func:`utterance_group_id`)
   -> list of :class:`Converted`: cleaned, validated against ``lakehouse/config/validation.yml``,
   or carrying a ``quarantine_reason`` (see ``QUARANTINE_REASONS``).

KTO records (``messages`` + boolean ``label``) convert to ``kind="sft"`` with ``label`` set: the
conversation is an ordinary chat sample and the label says whether its last assistant turn is
desirable (how a release carries the label is the exporter's choice).
"""

from lakehouse.shapes.clean import clean_text
from lakehouse.shapes.convert import convert, convert_group, utterance_group_id, utterance_sort_key
from lakehouse.shapes.detect import detect_shape
from lakehouse.shapes.readers import chunk_text, detect_file_format, iter_raw_records, read_path
from lakehouse.shapes.roles import normalize_role
from lakehouse.shapes.types import (
    FILE_FORMATS, KINDS, QUARANTINE_REASONS, REPAIR_KINDS, ROLES, SHAPES, Converted, InputError, RawRecord,
    ShapeDecision, ShapeOptions,
)
from lakehouse.shapes.validate import Policy, load_policy

__all__ = [
    "FILE_FORMATS", "KINDS", "QUARANTINE_REASONS", "REPAIR_KINDS", "ROLES", "SHAPES", "Converted", "InputError",
    "Policy", "RawRecord", "ShapeDecision", "ShapeOptions", "chunk_text", "clean_text", "convert", "convert_group",
    "detect_file_format", "detect_shape", "iter_raw_records", "load_policy", "normalize_role", "read_path",
    "utterance_group_id", "utterance_sort_key",
]
