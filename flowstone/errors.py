"""The whole flowstone exception tree and its one warning; nothing else defines them for users.

::

    FlowstoneError
    ├── DefinitionError      bad @asset: signature, unknown/duplicate key, partition mismatch
    │   └── CycleError       .cycle: list[AssetKey] in order
    ├── SelectionError       an asset selection that names nothing or cannot be parsed
    ├── ConfigError          settings that do not validate, with file and field
    ├── PartitionError       unknown or malformed partition key
    ├── BackfillError        an unknown backfill, or one that can no longer be resumed
    ├── IOManagerError       .asset_key, .partition_key; __cause__ is the plugin's own error
    │   └── MissingOutputError
    ├── StorageError         lineage/metadata store
    ├── ExecutorError        an executor that cannot start: a missing extra, a scheduler down
    └── RunError             .failures: one entry per failed (asset, partition)

    UserWarning
    └── FlowstoneWarning     works, but less well: e.g. a code version hashed from bytecode

Every message says what went wrong, where, and how to fix it.
"""

from __future__ import annotations

from collections.abc import Sequence

from flowstone.keys import AssetKey, PartitionKey


class FlowstoneError(Exception):
    """The root of every error flowstone raises on purpose."""


class FlowstoneWarning(UserWarning):
    """The category of every warning flowstone emits, so users can filter them as one."""


class DefinitionError(FlowstoneError):
    """An asset definition is invalid: signature, dependencies, keys or partitions."""


class CycleError(DefinitionError):
    """Dependencies form a cycle; ``cycle`` lists its assets in dependency order."""

    def __init__(self, message: str, cycle: Sequence[AssetKey]) -> None:
        super().__init__(message)
        self.cycle: list[AssetKey] = list(cycle)


class SelectionError(FlowstoneError):
    """An asset selection is malformed or names assets that do not exist."""


class ConfigError(FlowstoneError):
    """Settings or asset configuration do not validate."""


class PartitionError(FlowstoneError):
    """A partition key is unknown or malformed."""


class BackfillError(FlowstoneError):
    """A backfill that does not exist, or whose assets are no longer defined."""


class IOManagerError(FlowstoneError):
    """An I/O manager failed to store or load a value."""

    def __init__(
        self,
        message: str,
        *,
        asset_key: AssetKey | None = None,
        partition_key: PartitionKey | None = None,
    ) -> None:
        super().__init__(message)
        self.asset_key = asset_key
        self.partition_key = partition_key


class MissingOutputError(IOManagerError):
    """No value is stored for the requested (asset, partition)."""


class StorageError(FlowstoneError):
    """The metadata store cannot be reached, read or written."""


class ExecutorError(FlowstoneError):
    """An executor cannot start: its extra is not installed or its scheduler is unreachable."""


class RunError(FlowstoneError):
    """A run finished with failures; ``failures`` has one entry per failed item."""

    def __init__(
        self, message: str, failures: Sequence[tuple[AssetKey, PartitionKey, str]]
    ) -> None:
        super().__init__(message)
        self.failures: list[tuple[AssetKey, PartitionKey, str]] = list(failures)
