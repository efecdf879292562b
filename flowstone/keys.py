"""Identity values shared by every layer: asset keys, partition keys and version strings.

This module owns the frozen, hashable names of things. It imports nothing from flowstone and
does no I/O, so every other module (and every I/O manager plugin) can depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, TypeAlias

PartitionKey: TypeAlias = str
"""The key of one partition, e.g. ``"2024-01-01"`` or ``"date=2024-01-01|region=us"``."""

CodeVersion: TypeAlias = str
"""A version string of an asset's code: given by the user or a hash of its source."""

DataVersion: TypeAlias = str
"""A version string of one stored value, usually a content hash."""

UNPARTITIONED: Final[PartitionKey] = "__unpartitioned__"
"""The one partition key of an unpartitioned asset: every asset is stored per partition."""

KEY_SEPARATOR: Final = "/"


@dataclass(frozen=True, slots=True, order=True)
class AssetKey:
    """The unique name of an asset: one or more path segments, written ``"group/name"``.

    Example:
        >>> AssetKey.parse("warehouse/orders").name
        'orders'
    """

    path: tuple[str, ...]
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.path:
            raise ValueError("An asset key needs at least one segment, e.g. AssetKey(('orders',)).")
        for segment in self.path:
            if not isinstance(segment, str) or not segment or KEY_SEPARATOR in segment:
                raise ValueError(
                    f"Invalid asset key segment {segment!r} in {self.path!r}: segments are "
                    f"non-empty strings without {KEY_SEPARATOR!r}."
                )
        # Keys are dict keys everywhere (millions of lookups in a big status): hash once.
        object.__setattr__(self, "_hash", hash(self.path))

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[type[AssetKey], tuple[tuple[str, ...]]]:
        """Pickled by its path alone: string hashes differ between processes, so a worker
        must hash the key again rather than receive the driver's cached hash."""
        return (AssetKey, (self.path,))

    @classmethod
    def parse(cls, text: str | AssetKey) -> AssetKey:
        """Build a key from ``"name"`` or ``"group/name"`` (an ``AssetKey`` is returned as is)."""
        if isinstance(text, AssetKey):
            return text
        return cls(tuple(text.split(KEY_SEPARATOR)))

    @property
    def name(self) -> str:
        """The last segment: the name a dependency binds to by default."""
        return self.path[-1]

    def __str__(self) -> str:
        return KEY_SEPARATOR.join(self.path)

    def __repr__(self) -> str:
        return f"AssetKey({str(self)!r})"
