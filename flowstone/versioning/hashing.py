"""Hashing of tagged, canonical structures: the one way flowstone turns values into versions.

Pure: values in, hex digests out. Never hashes a pickle (pickles of equal values differ between
processes) and never joins strings with delimiters (ambiguous).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def hash_struct(value: Any) -> str:
    """SHA-256 of the canonical JSON of ``value`` (sorted keys, no whitespace), as hex.

    Tag the structure with what it versions so that equal parts of different things differ.

    Example:
        >>> hash_struct(["CodeVersion", "orders", "abc"])[:12]
        '...'
    """
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
