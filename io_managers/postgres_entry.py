"""The ``_flowstone_values`` entry of a value: where its rows are, or its JSON or pickle.

It owns what an entry holds and the checksum it records, computed before anything is written;
it runs no SQL, so a value that cannot be encoded is refused before a transaction begins.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from typing import Any, Final

from flowstone.io import IOContext
from io_managers.postgres_layout import Rows, canonical_json, hash_rows
from io_managers.postgres_message import build_error

_PICKLE_PROTOCOL: Final = 5


def encode_value(ctx: IOContext, value: Any, *, binary: bool) -> dict[str, Any]:
    """The value-table entry for a value that is not tabular."""
    if binary:
        try:
            data = pickle.dumps(value, protocol=_PICKLE_PROTOCOL)
        except Exception as exc:  # pickling runs arbitrary __reduce__ code
            raise build_error(
                ctx,
                f"a {type(value).__name__} value cannot be pickled ({exc})",
                "Return a picklable value.",
            ) from exc
        checksum = f"sha256:{hashlib.sha256(data).hexdigest()}"
        return {"format": "pickle", "value_bytes": data, "checksum": checksum}
    try:
        json.dumps(value, allow_nan=False)
        data = canonical_json(value)
    except (TypeError, ValueError) as exc:
        raise build_error(
            ctx,
            f"a {type(value).__name__} value cannot be stored as JSON ({exc})",
            "Return JSON data or a list of dicts, or create the manager with binary=True.",
        ) from exc
    checksum = f"sha256:{hashlib.sha256(data).hexdigest()}"
    return {"format": "json", "value": value, "checksum": checksum}


def entry_of(rows: Rows) -> dict[str, Any]:
    """The value-table entry of rows."""
    return {
        "format": "table",
        "value_type": rows.value_type,
        "columns": list(rows.columns),
        "row_count": len(rows.records),
        "logical_schema": rows.schema,
        "column_types": dict(zip(rows.columns, rows.types, strict=True)),
        "checksum": hash_rows(rows.columns, rows.records, rows.schema),
    }
