"""Versions: code versions, data versions, provenance versions and staleness judgement (pure:
values in, versions and verdicts out)."""

from flowstone.versioning.code_version import compute_code_version
from flowstone.versioning.data_version import hash_value
from flowstone.versioning.hashing import hash_struct
from flowstone.versioning.provenance import (
    compute_config_hash,
    compute_provenance_version,
    fallback_data_version,
)
from flowstone.versioning.staleness import Cause, CauseKind, Freshness, Verdict, judge

__all__ = [
    "Cause",
    "CauseKind",
    "Freshness",
    "Verdict",
    "compute_code_version",
    "compute_config_hash",
    "compute_provenance_version",
    "fallback_data_version",
    "hash_struct",
    "hash_value",
    "judge",
]
