"""Data versions of NumPy arrays, pyarrow tables and polars frames (pandas has its own module).

Owns the handlers ``data_version`` registers when one of these libraries is already imported;
this module never imports them itself. Every digest is tagged ``...:2``, so no version of the
earlier encoding can meet one of these. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import sys
from typing import Any

from flowstone.keys import DataVersion
from flowstone.versioning.data_version import Unhashable, digest, hash_value


def hash_numpy(value: Any) -> DataVersion | None:
    """A NumPy array or scalar by its kind, dtype, shape and elements."""
    numpy = sys.modules["numpy"]
    try:
        return digest("numpy:2", [type(value).__qualname__, hash_array(numpy.asarray(value))])
    except (Unhashable, RecursionError):
        return None


def hash_array(array: Any) -> DataVersion:
    """The digest of one NumPy array; raises ``Unhashable`` for elements with no canonical form.

    Object arrays are hashed element by element through the canonical encoder; structured
    arrays field by field; other arrays by their bytes in native byte order, with one zero and
    one NaN in floats.
    """
    numpy = sys.modules["numpy"]
    shape = list(array.shape)
    if array.dtype.names is not None:
        fields = [[name, hash_array(array[name])] for name in array.dtype.names]
        return digest("struct", [shape, fields])
    if array.dtype.hasobject:
        elements = hash_value(array.reshape(-1).tolist())
        if elements is None:
            raise Unhashable
        return digest("objects", [shape, elements])
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    if array.dtype.kind in "fc":
        array = _canonical_floats(array)
    flat = numpy.ascontiguousarray(array).reshape(-1)
    return digest("array", [array.dtype.str, shape], flat.view(numpy.uint8))


def _canonical_floats(array: Any) -> Any:
    """A copy with one zero and one NaN, as for Python floats: ``-0.0 + 0.0`` is ``0.0``."""
    numpy = sys.modules["numpy"]
    canonical = array + array.dtype.type(0)
    missing = numpy.isnan(canonical)
    if missing.any():
        canonical[missing] = numpy.nan
    return canonical


class _HashWriter:
    """A write-only file that feeds a hash object: serialised tables are never held whole."""

    closed = False

    def __init__(self, hasher: hashlib.blake2b) -> None:
        self.hasher = hasher

    def write(self, data: bytes) -> int:
        self.hasher.update(data)
        return memoryview(data).nbytes

    def flush(self) -> None:
        """Nothing is buffered."""


def hash_arrow(value: Any) -> DataVersion | None:
    """The Arrow IPC stream of the table, schema and metadata included, one chunk per column.

    Dictionary-encoded columns are decoded first (their type stays in the schema), so equal
    data built from chunks with different dictionaries gets one version.
    """
    pyarrow = sys.modules["pyarrow"]
    hasher = hashlib.blake2b(f"arrow-{type(value).__name__}:2;".encode(), digest_size=16)
    hasher.update(str(value.schema).encode("utf-8"))
    table = value if isinstance(value, pyarrow.Table) else pyarrow.Table.from_batches([value])
    for index, field in enumerate(table.schema):
        if pyarrow.types.is_dictionary(field.type):
            decoded = table.column(index).cast(field.type.value_type)
            table = table.set_column(index, field.with_type(field.type.value_type), decoded)
    table = table.combine_chunks()
    with pyarrow.ipc.new_stream(_HashWriter(hasher), table.schema) as writer:
        writer.write(table)
    return hasher.hexdigest()


def hash_polars(value: Any) -> DataVersion | None:
    """The uncompressed Arrow IPC stream of the rechunked frame (a series as a frame).

    Categorical and enum columns go in as their strings, their dtypes (an enum's categories in
    order) ahead of them: the physical codes depend on the process's string cache.
    """
    polars = sys.modules["polars"]
    frame = value.to_frame() if isinstance(value, polars.Series) else value
    schema = [[name, str(dtype)] for name, dtype in frame.schema.items()]
    header = digest(f"polars-{type(value).__name__}:2", schema)
    hasher = hashlib.blake2b(header.encode(), digest_size=16)
    coded = polars.col(polars.Categorical, polars.Enum)
    frame = frame.with_columns(coded.cast(polars.String))
    frame.rechunk().write_ipc_stream(_HashWriter(hasher), compression="uncompressed")
    return hasher.hexdigest()
