"""FilesystemIOManager specifics: key encoding, containment in the root, atomic writes, checksums.

The behaviour every manager shares is in ``tests/contract``; this module tests only what is
particular to files: the layout, the encoding, temporary files, formats and fsspec roots.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowstone.errors import IOManagerError, MissingOutputError
from flowstone.io import IOContext
from flowstone.keys import UNPARTITIONED, AssetKey
from io_managers.filesystem import MAX_SEGMENT_LENGTH, FilesystemIOManager, encode_path_segment

SAFE_NAME = re.compile(r"[A-Za-z0-9_.%~-]*")
CUT_NAME = re.compile(r"[^~]{131,133}~[0-9a-f]{16}")  # a trailing partial escape is dropped
EXAMPLES = settings(max_examples=400, derandomize=True, deadline=None)  # cheap, reproducible
TRICKY_TEXT = (
    st.text(alphabet=st.sampled_from("./\\%~\x00 aZ09_-é🙂\ud800"), max_size=80) | st.text()
)


def context(
    asset: str | AssetKey = "orders", partition: str = UNPARTITIONED, **options: Any
) -> IOContext:
    return IOContext(AssetKey.parse(asset), partition, options=options)


def decode(name: str) -> str:
    """The inverse of ``encode_path_segment`` for names that were not cut."""
    raw = bytearray()
    index = 0
    while index < len(name):
        if name[index] == "%":
            raw.append(int(name[index + 1 : index + 3], 16))
            index += 3
        else:
            raw.extend(name[index].encode())
            index += 1
    return raw.decode("utf-8", "surrogatepass")


def snapshot(folder: Path) -> set[Path]:
    return {Path(top, name) for top, dirs, files in os.walk(folder) for name in [*dirs, *files]}


def stored_path(stored: Any) -> Path:
    return Path(str(stored["uri"]).removeprefix("file://"))


@pytest.fixture
def manager(tmp_path: Path) -> FilesystemIOManager:
    return FilesystemIOManager(str(tmp_path / "storage"))


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ("orders", "orders"),
        ("2024-01-01", "2024-01-01"),
        ("v1.2_final", "v1.2_final"),
        (".", "%2E"),
        ("..", "%2E%2E"),
        (".hidden", "%2Ehidden"),
        ("trailing.", "trailing%2E"),
        ("../../etc/passwd", "%2E.%2F..%2Fetc%2Fpasswd"),
        ("/abs/path", "%2Fabs%2Fpath"),
        ("a\\b", "a%5Cb"),
        ("a\x00b", "a%00b"),
        ("100%", "100%25"),
        ("~", "%7E"),
        ("date=2024-01-01|region=us", "date%3D2024-01-01%7Cregion%3Dus"),
        ("é", "%C3%A9"),
        ("", ""),
    ],
)
def test_encoding_is_pinned(text: str, encoded: str) -> None:
    """The on-disk layout: changing it orphans stored files, so it changes only on purpose."""
    assert encode_path_segment(text) == encoded


def test_long_names_are_cut_and_end_in_a_hash_of_the_original() -> None:
    text = "x" * 300
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    assert encode_path_segment(text) == "x" * (MAX_SEGMENT_LENGTH - 17) + "~" + digest
    assert encode_path_segment("é" * 60).partition("~")[0] == "%C3%A9" * 22  # no half escape


@EXAMPLES
@given(TRICKY_TEXT)
def test_encoded_names_are_safe_and_short(text: str) -> None:
    encoded = encode_path_segment(text)
    assert SAFE_NAME.fullmatch(encoded)
    assert len(encoded) <= MAX_SEGMENT_LENGTH
    assert not encoded.startswith(".") and not encoded.endswith(".")
    assert bool(encoded) == bool(text)


@EXAMPLES
@given(TRICKY_TEXT)
def test_uncut_names_decode_to_the_original(text: str) -> None:
    encoded = encode_path_segment(text)
    if "~" in encoded:  # cut: "~" never survives encoding otherwise
        assert CUT_NAME.fullmatch(encoded)
    else:
        assert decode(encoded) == text


@EXAMPLES
@given(TRICKY_TEXT, TRICKY_TEXT)
def test_encoding_is_injective(first: str, second: str) -> None:
    assert (encode_path_segment(first) == encode_path_segment(second)) == (first == second)


@EXAMPLES
@given(st.text(min_size=MAX_SEGMENT_LENGTH), TRICKY_TEXT, TRICKY_TEXT)
def test_cut_names_with_a_shared_prefix_stay_distinct(prefix: str, first: str, second: str) -> None:
    same = encode_path_segment(prefix + first) == encode_path_segment(prefix + second)
    assert same == (first == second)


def test_hostile_keys_never_write_outside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "nested" / "root"
    root.parent.mkdir(parents=True)
    manager = FilesystemIOManager(str(root))
    watched = tmp_path.parent
    partitions = [
        "../../escaped", "../" * 12 + "escaped", "/abs/path", str(watched / "escaped"),
        str(tmp_path / "escaped"), "..", ".", "a\x00b", "x" * 300, "a\\..\\..\\escaped",
    ]  # fmt: skip
    assets = [AssetKey(("..", "..", "escaped")), AssetKey(("..",)), AssetKey((".",))]
    contexts = [context(asset, partition) for asset in assets for partition in partitions]
    before = snapshot(watched)
    for index, ctx in enumerate(contexts):
        manager.save(ctx, index)
    created = snapshot(watched) - before
    assert all(path.is_relative_to(root) for path in created), sorted(created)
    assert sum(path.is_file() for path in created) == len(contexts)
    assert [manager.load(ctx) for ctx in contexts] == list(range(len(contexts)))


def test_layout_is_root_asset_segments_partition_and_format(
    manager: FilesystemIOManager, tmp_path: Path
) -> None:
    stored = manager.save(context("warehouse/orders", "2024-01-01"), {"rows": 3})
    path = tmp_path / "storage" / "warehouse" / "orders" / "2024-01-01.pickle"
    assert pickle.loads(path.read_bytes()) == {"rows": 3}
    assert stored == {
        "uri": f"file://{path}",
        "size": path.stat().st_size,
        "checksum": f"sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}",
        "format": "pickle",
    }


def test_unpicklable_value_raises_and_writes_nothing(
    manager: FilesystemIOManager, tmp_path: Path
) -> None:
    with pytest.raises(IOManagerError, match="cannot be pickled") as raised:
        manager.save(context(), lambda: None)
    assert raised.value.asset_key == AssetKey.parse("orders")
    assert raised.value.__cause__ is not None
    assert list(tmp_path.rglob("*")) == []


def test_json_refuses_a_value_it_cannot_store(tmp_path: Path) -> None:
    manager = FilesystemIOManager(str(tmp_path / "storage"), format="json")
    manager.save(context(), [1])
    with pytest.raises(IOManagerError, match=re.escape('{"format": "pickle"}')):
        manager.save(context(), {1, 2})
    assert manager.load(context()) == [1]
    assert len([path for path in tmp_path.rglob("*") if path.is_file()]) == 1


def test_failed_rename_keeps_the_old_value_and_no_temporary_file(
    manager: FilesystemIOManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = stored_path(manager.save(context(), "old"))

    def fail_replace(source: str, target: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail_replace)
    with pytest.raises(IOManagerError, match=r"could not be written.*No space left") as raised:
        manager.save(context(), "new")
    monkeypatch.undo()
    assert isinstance(raised.value.__cause__, OSError)
    assert list(path.parent.iterdir()) == [path]
    assert manager.load(context()) == "old"


def test_interrupted_write_removes_the_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = FilesystemIOManager(str(tmp_path / "storage"), fsync=True)

    def interrupt(descriptor: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):  # not wrapped: Ctrl-C must reach the runner
        manager.save(context(), "value")
    assert [path for path in tmp_path.rglob("*") if path.is_file()] == []


def test_fsync_flushes_the_file_and_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def record(descriptor: int) -> None:
        synced.append(descriptor)
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", record)
    FilesystemIOManager(str(tmp_path / "storage"), fsync=True).save(context(), 1)
    assert len(synced) == (2 if os.name == "posix" else 1)
    FilesystemIOManager(str(tmp_path / "other")).save(context(), 1)
    assert len(synced) == (2 if os.name == "posix" else 1)


def test_tampered_file_fails_its_checksum(manager: FilesystemIOManager) -> None:
    stored = manager.save(context(), 1)
    stored_path(stored).write_bytes(pickle.dumps(2))
    with pytest.raises(IOManagerError, match="does not match its recorded checksum") as raised:
        manager.load(replace(context(), stored=stored))
    assert "Materialize the asset again" in str(raised.value)
    assert not isinstance(raised.value, MissingOutputError)
    assert manager.load(context()) == 2  # without a recorded checksum there is nothing to check


def test_unknown_checksum_algorithm_is_refused(manager: FilesystemIOManager) -> None:
    manager.save(context(), 1)
    ctx = replace(context(), stored={"checksum": "md5:0123"})
    with pytest.raises(IOManagerError, match="'md5:0123' uses an algorithm"):
        manager.load(ctx)


def test_exists_does_not_read_the_file(manager: FilesystemIOManager) -> None:
    stored_path(manager.save(context(), 1)).write_bytes(b"not a pickle")
    assert manager.exists(context())
    with pytest.raises(IOManagerError, match="cannot be decoded as pickle"):
        manager.load(context())


def test_format_option_overrides_the_default_per_asset(manager: FilesystemIOManager) -> None:
    as_json = context(format="json")
    stored = manager.save(as_json, {"rows": [1, 2]})
    assert stored["format"] == "json"
    assert json.loads(stored_path(stored).read_text()) == {"rows": [1, 2]}
    assert manager.exists(as_json) and not manager.exists(context())
    assert manager.load(as_json) == {"rows": [1, 2]}
    assert manager.load(replace(context(), stored=stored)) == {"rows": [1, 2]}  # stored wins
    with pytest.raises(MissingOutputError, match=r"orders/__unpartitioned__\.pickle"):
        manager.load(context())


def test_unknown_format_is_refused_with_a_suggestion(
    manager: FilesystemIOManager, tmp_path: Path
) -> None:
    with pytest.raises(IOManagerError, match="Unknown storage format 'yaml'"):
        FilesystemIOManager(str(tmp_path), format="yaml")  # type: ignore[arg-type]
    with pytest.raises(IOManagerError, match=r"'jsn' in io_manager_options.*Did you mean 'json'"):
        manager.save(context(format="jsn"), 1)


def test_file_url_root(tmp_path: Path) -> None:
    manager = FilesystemIOManager(f"file://{tmp_path}/store")
    stored = manager.save(context("raw/orders"), [1])
    path = tmp_path / "store" / "raw" / "orders" / "__unpartitioned__.pickle"
    assert stored["uri"] == f"file://{path}"
    assert pickle.loads(path.read_bytes()) == [1]
    assert manager.load(context("raw/orders")) == [1]


def test_unknown_protocol_is_refused() -> None:
    with pytest.raises(IOManagerError, match="cannot open the storage root 'nosuchfs://x'"):
        FilesystemIOManager("nosuchfs://x")


def test_root_removed_between_saves_is_created_again(
    manager: FilesystemIOManager, tmp_path: Path
) -> None:
    manager.save(context(), 1)
    shutil.rmtree(tmp_path / "storage")
    manager.save(context(), 2)
    assert manager.load(context()) == 2


def test_asset_segment_clashing_with_a_partition_file_is_reported(
    manager: FilesystemIOManager,
) -> None:
    manager.save(context("a", "p"), 1)
    with pytest.raises(IOManagerError, match="could not be written"):
        manager.save(context(AssetKey(("a", "p.pickle")), "q"), 2)
    assert manager.load(context("a", "p")) == 1


def test_manager_survives_pickling_for_process_workers(manager: FilesystemIOManager) -> None:
    manager.save(context(), [1, 2])
    copy = pickle.loads(pickle.dumps(manager))
    assert copy.load(context()) == [1, 2]
    assert repr(copy) == repr(manager)


def test_exists_many_matches_exists_and_lists_each_folder_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = FilesystemIOManager(root=str(tmp_path / "root"))
    contexts = [IOContext(AssetKey.parse(a), p) for a in ("x", "y") for p in ("1", "2")]
    contexts.append(IOContext(AssetKey.parse("never"), "1"))
    for ctx in contexts[:3]:
        manager.save(ctx, 1)
    listed: list[str] = []
    real = os.listdir
    monkeypatch.setattr(os, "listdir", lambda path: listed.append(path) or real(path))
    assert manager.exists_many(contexts) == [manager.exists(ctx) for ctx in contexts]
    assert manager.exists_many(contexts) == [True, True, True, False, False]
    assert len(listed) == 6  # three folders, twice
