"""Versions: code versions and canonical hashing (pure: values in, versions out)."""

from flowstone.versioning.code_version import compute_code_version
from flowstone.versioning.hashing import hash_struct

__all__ = ["compute_code_version", "hash_struct"]
