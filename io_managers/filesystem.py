"""``FilesystemIOManager``: one pickle or JSON file per value under a root on any fsspec filesystem.

It owns the layout ``{root}/{asset key segments}/{partition key}.{pickle|json}``, the encoding
that keeps every key inside the root, atomic writes and checksum verification on load. It must
not import flowstone beyond ``flowstone.io``, ``flowstone.keys`` and ``flowstone.errors``, and
must never put a key into a path unencoded: asset and partition keys are untrusted text.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import os
import pickle
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, TypeAlias

import fsspec.core  # type: ignore[import-untyped]

from flowstone.errors import IOManagerError, MissingOutputError
from flowstone.io import IOContext
from flowstone.keys import AssetKey

Format: TypeAlias = Literal["pickle", "json"]
"""How a value is turned into bytes; also the file extension."""

MAX_SEGMENT_LENGTH: Final = 150
"""The longest encoded name of one path segment, well under the usual 255-byte name limit."""

_HASH_LENGTH: Final = 16
_PLAIN_SEGMENT: Final = re.compile(r"[A-Za-z0-9_-](?:[A-Za-z0-9_.-]*[A-Za-z0-9_-])?")
_SAFE_CHARACTERS: Final = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-."
)
_PARTIAL_ESCAPE: Final = re.compile(r"%[0-9A-F]?$")
_LOCAL_PROTOCOLS: Final = frozenset({"file", "local"})
_PICKLE_PROTOCOL: Final = 5
_CREATE_FLAGS: Final[int] = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
)


def encode_path_segment(text: str) -> str:
    """Turn any string into a file name that stays inside its directory.

    Letters, digits, ``_``, ``-`` and inner ``.`` are kept. A leading or trailing ``.`` and every
    other character are percent-encoded byte by byte from UTF-8, so ``/``, ``\\``, NUL, ``%``,
    ``.`` and ``..`` cannot survive, and different inputs give different names. A name longer
    than ``MAX_SEGMENT_LENGTH`` is cut and ends in ``~`` plus 16 hex digits of the input's
    SHA-256; ``~`` is always encoded otherwise, so a cut name never equals an uncut one.

    Args:
        text: an asset-key segment or a partition key.

    Returns:
        The encoded name: only ``[A-Za-z0-9_.%~-]``, never starting or ending with ``.``.

    Example:
        >>> encode_path_segment("../etc/passwd")
        '%2E.%2Fetc%2Fpasswd'
    """
    if len(text) <= MAX_SEGMENT_LENGTH and _PLAIN_SEGMENT.fullmatch(text):
        return text  # the common case: a name that needs no escaping
    last = len(text) - 1
    encoded = "".join(
        char
        if char in _SAFE_CHARACTERS and not (char == "." and index in (0, last))
        else "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
        for index, char in enumerate(text)
    )
    if len(encoded) <= MAX_SEGMENT_LENGTH:
        return encoded
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_LENGTH]
    kept = _PARTIAL_ESCAPE.sub("", encoded[: MAX_SEGMENT_LENGTH - _HASH_LENGTH - 1])
    return f"{kept}~{digest}"


class FilesystemIOManager:
    """Stores each (asset, partition) value as one file under ``root``.

    ``root`` is a local path or any fsspec URL (``file://``, ``memory://``, ``s3://`` with s3fs
    installed, ...). A value is written to ``{root}/{asset key}/{partition key}.{format}`` with
    every segment passed through ``encode_path_segment``. Local writes go to a temporary file in
    the same directory and are renamed over the target; other filesystems get the whole file in
    one ``pipe_file`` call, which object stores apply atomically. ``load`` verifies the bytes
    against the checksum ``save`` returned when the caller passes it back in ``ctx.stored``.

    JSON turns tuples into lists and non-string dict keys into strings; use pickle where the
    exact type matters. Pickle files run code when loaded: keep ``root`` writable only by people
    you trust.

    Args:
        root: where values live; a path or fsspec URL.
        format: the default format; an asset overrides it with
            ``io_manager_options={"format": "json"}``.
        fsync: flush each file and its directory to disk before ``save`` returns (local only).

    Raises:
        IOManagerError: ``format`` is unknown or ``root`` names a filesystem that is not installed.

    Example:
        >>> from flowstone.io import IOContext
        >>> from flowstone.keys import AssetKey
        >>> manager = FilesystemIOManager("memory://docs-example", format="json")
        >>> ctx = IOContext(AssetKey.parse("warehouse/orders"), "2024-01-01")
        >>> manager.save(ctx, {"rows": 3})["uri"]
        'memory:///docs-example/warehouse/orders/2024-01-01.json'
        >>> manager.load(ctx)
        {'rows': 3}
    """

    def __init__(
        self, root: str = ".flowstone/storage", *, format: Format = "pickle", fsync: bool = False
    ) -> None:
        self._format = _check_format(format, "format= of FilesystemIOManager")
        self._fsync = fsync
        try:
            self._fs, root_path = fsspec.core.url_to_fs(root)
        except (ImportError, ValueError) as exc:
            raise IOManagerError(
                f"FilesystemIOManager cannot open the storage root {root!r} ({exc}). Fix root= "
                f"or install the fsspec backend for its protocol (e.g. s3fs for s3://)."
            ) from exc
        protocols = self._fs.protocol
        protocols = {protocols} if isinstance(protocols, str) else set(protocols)
        self._is_local = bool(protocols & _LOCAL_PROTOCOLS)
        self._root: str = root_path.rstrip("/")
        # fsspec's unstrip_protocol costs microseconds; every path starts with the root.
        self._root_uri: str = self._fs.unstrip_protocol(self._root or "/").removesuffix("/")
        # Plain dict/set: a lost race only repeats a cheap, idempotent makedirs.
        self._directories: dict[AssetKey, str] = {}
        self._created: set[str] = set()

    def __repr__(self) -> str:
        return (
            f"FilesystemIOManager({self._fs.unstrip_protocol(self._root or '/')!r}, "
            f"format={self._format!r}, fsync={self._fsync!r})"
        )

    def save(self, ctx: IOContext, value: Any) -> Mapping[str, Any]:
        """Serialize ``value`` and write it atomically, replacing any earlier value.

        Args:
            ctx: names the asset and partition; ``ctx.options["format"]`` overrides the default.
            value: the asset's value.

        Returns:
            ``uri``, ``size`` (bytes), ``checksum`` (``"sha256:<hex>"``) and ``format``; pass this
            mapping back as ``ctx.stored`` so ``load`` can verify the file.

        Raises:
            IOManagerError: the value cannot be serialized or the file cannot be written.
        """
        fmt = self._format_for(ctx, prefer_stored=False)
        data = _serialize(ctx, value, fmt)
        directory, path = self._locate(ctx, fmt)
        try:
            if self._is_local:
                self._write_local(directory, path, data)
            else:
                self._write_remote(directory, path, data)
        except Exception as exc:  # fsspec backends raise their own types, not only OSError
            raise _error(
                ctx,
                f"the value could not be written to {self._uri(path)} ({_describe(exc)})",
                "Check that root= is writable and has free space, then materialize again.",
            ) from exc
        return {
            "uri": self._uri(path),
            "size": len(data),
            "checksum": f"sha256:{hashlib.sha256(data).hexdigest()}",
            "format": fmt,
        }

    def load(self, ctx: IOContext) -> Any:
        """Read, verify and deserialize the stored value.

        The format is ``ctx.stored["format"]`` when known, else the option or default. The bytes
        are checked against ``ctx.stored["checksum"]`` when there is one.

        Raises:
            MissingOutputError: no file exists for the (asset, partition).
            IOManagerError: the file cannot be read, fails its checksum or cannot be decoded.
        """
        fmt = self._format_for(ctx, prefer_stored=True)
        _, path = self._locate(ctx, fmt)
        data = self._read(ctx, path)
        checksum = ctx.stored.get("checksum")
        if checksum is not None:
            _verify_checksum(ctx, data, str(checksum), self._uri(path))
        return _deserialize(ctx, data, fmt, self._uri(path))

    def exists(self, ctx: IOContext) -> bool:
        """Whether the file for the (asset, partition) exists; does not read it.

        Raises:
            IOManagerError: the filesystem cannot be asked.
        """
        fmt = self._format_for(ctx, prefer_stored=True)
        _, path = self._locate(ctx, fmt)
        if self._is_local:
            return os.path.isfile(path)
        try:
            return bool(self._fs.isfile(path))
        except Exception as exc:  # fsspec backends raise their own types
            raise _error(
                ctx,
                f"the value could not be looked up at {self._uri(path)} ({_describe(exc)})",
                "Check that root= is reachable and readable.",
            ) from exc

    def exists_many(self, contexts: Sequence[IOContext]) -> list[bool]:
        """``exists`` for many contexts at once, listing each asset's folder only once.

        Raises:
            IOManagerError: the filesystem cannot be asked.
        """
        listed: dict[str, set[str]] = {}
        found: list[bool] = []
        for ctx in contexts:
            directory, path = self._locate(ctx, self._format_for(ctx, prefer_stored=True))
            if directory not in listed:
                listed[directory] = self._list_names(ctx, directory)
            found.append(path.rpartition("/")[2] in listed[directory])
        return found

    def _list_names(self, ctx: IOContext, directory: str) -> set[str]:
        try:
            if self._is_local:
                return set(os.listdir(directory))
            return {name.rpartition("/")[2] for name in self._fs.ls(directory, detail=False)}
        except FileNotFoundError:
            return set()
        except Exception as exc:  # fsspec backends raise their own types
            raise _error(
                ctx,
                f"its folder could not be listed at {self._uri(directory)} ({_describe(exc)})",
                "Check that root= is reachable and readable.",
            ) from exc

    def _format_for(self, ctx: IOContext, *, prefer_stored: bool) -> Format:
        if prefer_stored and "format" in ctx.stored:
            return _check_format(ctx.stored["format"], f"the stored metadata of {_where(ctx)}")
        option = ctx.options.get("format")
        if option is None:
            return self._format
        return _check_format(option, f"io_manager_options of {_where(ctx)}")

    def _locate(self, ctx: IOContext, fmt: Format) -> tuple[str, str]:
        """The directory and the path of the context's file."""
        directory = self._directories.get(ctx.asset_key)
        if directory is None:
            segments = "/".join(encode_path_segment(part) for part in ctx.asset_key.path)
            directory = self._directories[ctx.asset_key] = f"{self._root}/{segments}"
        return directory, f"{directory}/{encode_path_segment(ctx.partition_key)}.{fmt}"

    def _uri(self, path: str) -> str:
        return self._root_uri + path[len(self._root) :]

    def _write_local(self, directory: str, path: str, data: bytes) -> None:
        try:
            self._replace_local(directory, path, data)
        except FileNotFoundError:
            # The directory was removed after we created it (e.g. wiped): create it once more.
            self._created.discard(directory)
            self._replace_local(directory, path, data)

    def _replace_local(self, directory: str, path: str, data: bytes) -> None:
        """Write ``data`` to a temporary sibling and rename it over ``path``."""
        if directory not in self._created:
            os.makedirs(directory, exist_ok=True)
            self._created.add(directory)
        temporary = f"{directory}/.{path.rpartition('/')[2]}.tmp-{uuid.uuid4().hex}"
        try:
            _write_new_file(temporary, data, fsync=self._fsync)
            os.replace(temporary, path)
        except BaseException:  # also on Ctrl-C: never leave the temporary file behind
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        if self._fsync:
            _fsync_directory(directory)

    def _write_remote(self, directory: str, path: str, data: bytes) -> None:
        if directory not in self._created:
            self._fs.makedirs(directory, exist_ok=True)
            self._created.add(directory)
        self._fs.pipe_file(path, data)

    def _read(self, ctx: IOContext, path: str) -> bytes:
        try:
            if self._is_local:
                with open(path, "rb", buffering=0) as file:  # unbuffered: one sized read
                    return file.readall()
            data: bytes = self._fs.cat_file(path)
        except FileNotFoundError as exc:
            raise _error(
                ctx,
                f"no value is stored, {self._uri(path)} does not exist",
                "Materialize the asset, or check that root= is where it was saved.",
                missing=True,
            ) from exc
        except Exception as exc:  # fsspec backends raise their own types, not only OSError
            raise _error(
                ctx,
                f"the value could not be read from {self._uri(path)} ({_describe(exc)})",
                "Check that root= is readable, or materialize the asset again.",
            ) from exc
        return data


def _where(ctx: IOContext) -> str:
    return f"asset {str(ctx.asset_key)!r}, partition {ctx.partition_key!r}"


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _error(ctx: IOContext, what: str, fix: str, *, missing: bool = False) -> IOManagerError:
    """An error about the context's value: ``"Asset 'a', partition 'p': <what>. <fix>"``."""
    kind = MissingOutputError if missing else IOManagerError
    return kind(
        f"Asset {str(ctx.asset_key)!r}, partition {ctx.partition_key!r}: {what}. {fix}",
        asset_key=ctx.asset_key,
        partition_key=ctx.partition_key,
    )


def _check_format(value: object, where: str) -> Format:
    if value == "pickle":
        return "pickle"
    if value == "json":
        return "json"
    close = difflib.get_close_matches(str(value), ["pickle", "json"], n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise IOManagerError(
        f"Unknown storage format {value!r} in {where}.{hint} Use 'pickle' or 'json'."
    )


def _serialize(ctx: IOContext, value: Any, fmt: Format) -> bytes:
    try:
        if fmt == "json":
            return json.dumps(value, sort_keys=True).encode("ascii")
        return pickle.dumps(value, protocol=_PICKLE_PROTOCOL)
    except Exception as exc:  # a value's own __reduce__ or __str__ may raise anything
        cause = _describe(exc)
        if fmt == "json":
            raise _error(
                ctx,
                f"a value of type {type(value).__name__!r} cannot be stored as JSON ({cause})",
                "Return JSON-like data (dict with str keys, list, str, int, float, bool, None) "
                'or set io_manager_options={"format": "pickle"}.',
            ) from exc
        raise _error(
            ctx,
            f"a value of type {type(value).__name__!r} cannot be pickled ({cause})",
            "Return a picklable value (no lambdas, locks, open files or local classes) "
            "or store it with another I/O manager.",
        ) from exc


def _deserialize(ctx: IOContext, data: bytes, fmt: Format, uri: str) -> Any:
    try:
        if fmt == "json":
            return json.loads(data)
        return pickle.loads(data)
    except Exception as exc:  # unpickling may raise anything (missing class, bad bytes, ...)
        raise _error(
            ctx,
            f"the stored value at {uri} cannot be decoded as {fmt} ({_describe(exc)})",
            "If the file is damaged or holds a class that moved, materialize the asset again.",
        ) from exc


def _verify_checksum(ctx: IOContext, data: bytes, expected: str, uri: str) -> None:
    algorithm, _, digest = expected.partition(":")
    if algorithm != "sha256":
        raise _error(
            ctx,
            f"the recorded checksum {expected!r} uses an algorithm this manager cannot check",
            "Materialize the asset again with FilesystemIOManager to record a sha256 checksum.",
        )
    actual = hashlib.sha256(data).hexdigest()
    if actual != digest:
        raise _error(
            ctx,
            f"the stored value at {uri} does not match its recorded checksum (recorded "
            f"sha256:{digest[:16]}..., found sha256:{actual[:16]}...): the file changed since",
            "Materialize the asset again to rewrite it.",
        )


def _write_new_file(path: str, data: bytes, *, fsync: bool) -> None:
    """Create ``path`` (it must not exist) holding ``data``; ``os`` calls skip io's layers."""
    descriptor = os.open(path, _CREATE_FLAGS, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view) :]
        if fsync:
            os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_directory(directory: str) -> None:
    """Make a rename in ``directory`` durable; POSIX only (Windows cannot open a directory)."""
    if os.name != "posix":
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
