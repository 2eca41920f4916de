"""Data layer: public schemas, the schema-only encoder, datasets and their splits.

``dpcondense.data`` re-exports the names most code needs (:class:`Dataset`,
:func:`train_test_split`, :func:`from_frame`, :func:`load_csv`, :class:`Schema`, :class:`Encoder`).
"""

from __future__ import annotations

from dpcondense.data.dataset import (
    ChecksumMismatchError,
    DataValidationError,
    Dataset,
    frame_checksum,
    from_frame,
    keyed_split,
    load_csv,
    train_test_split,
)
from dpcondense.data.encoder import Encoder
from dpcondense.data.schema import Feature, Outcome, Schema, SchemaError

__all__ = [
    "ChecksumMismatchError",
    "DataValidationError",
    "Dataset",
    "Encoder",
    "Feature",
    "Outcome",
    "Schema",
    "SchemaError",
    "frame_checksum",
    "from_frame",
    "keyed_split",
    "load_csv",
    "train_test_split",
]
