"""Input shapes: read raw files of any supported shape and convert records to sft/preference/pretrain.

Pure Python, no storage: landing passes an ``open_stream`` callable, stores ``ShapeOptions.to_json()``
with every raw row, and calls :func:`convert` / :func:`convert_group` later.
"""

from lakehouse.shapes.clean import clean_text
from lakehouse.shapes.convert import (
    convert, convert_group, utterance_group_id, utterance_sort_key,
)
from lakehouse.shapes.detect import detect_shape
from lakehouse.shapes.readers import chunk_text, detect_file_format, iter_raw_records, read_path
from lakehouse.shapes.roles import normalize_role
from lakehouse.shapes.types import (
    FILE_FORMATS, KINDS, ROLES, SHAPES, Converted, InputError, RawRecord, ShapeDecision, ShapeOptions,
)
from lakehouse.shapes.validate import Policy, load_policy

__all__ = [
    "FILE_FORMATS", "KINDS", "ROLES", "SHAPES", "Converted", "InputError", "Policy", "RawRecord", "ShapeDecision",
    "ShapeOptions", "chunk_text", "clean_text", "convert", "convert_group", "detect_file_format", "detect_shape",
    "iter_raw_records", "load_policy", "normalize_role", "read_path", "utterance_group_id", "utterance_sort_key",
]
