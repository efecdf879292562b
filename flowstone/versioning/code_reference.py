"""What the names in a definition refer to, and whether that belongs to the project.

A name is looked up in the closure, then in the module's globals (builtins are never followed);
``module.attr`` chains are followed through modules only, reading their ``__dict__`` so that no
lazy ``__getattr__`` runs. "Project-local" means defined outside the standard library and every
installed-package directory, or in the same top-level package as the asset being versioned;
flowstone ships its own versions and is never project-local. Reads no files: paths are compared
as text (after resolving symlinks).
"""

from __future__ import annotations

import os
import site
import sys
import sysconfig
from collections.abc import Iterator
from functools import cache
from types import CellType, FunctionType, MethodType, ModuleType
from typing import Final, NamedTuple

from flowstone.versioning.code_analysis import (
    Chain,
    analyse_class,
    analyse_function,
    own_members,
)

Definition = FunctionType | type
"""What a code version follows: functions and classes (whose source is hashed)."""

_INSTALLED_PACKAGES: Final = frozenset({"flowstone", "io_managers"})
"""Shipped together as one installed distribution, even when installed in editable mode."""

_PACKAGE_DIRECTORY_NAMES: Final = frozenset({"site-packages", "dist-packages"})
_MAX_UNWRAP: Final = 32


class Reference(NamedTuple):
    """One value a definition refers to.

    ``label`` names it without any file path (``"helpers:RATE"``); ``module`` is the module a
    chain went through to reach it, None when it came from the definition's own scope.
    ``written`` is True when the definition itself rebinds the name (``global``/``nonlocal``).
    """

    label: str
    value: object
    module: ModuleType | None
    written: bool = False


def qualified_name(definition: Definition) -> str:
    """``module:qualname``: the same wherever the project folder lives."""
    return f"{definition.__module__}:{definition.__qualname__}"


def iter_references(definition: Definition) -> Iterator[Reference]:
    """The values that ``definition``'s source reads by name, plus its default arguments."""
    if isinstance(definition, type):
        yield from _class_references(definition)
        return
    label = qualified_name(definition)
    code = definition.__code__
    cells = dict(zip(code.co_freevars, definition.__closure__ or (), strict=True))
    scope = _Scope(definition.__globals__, cells, str(definition.__module__), label)
    analysis = analyse_function(definition)
    for chain in analysis.chains:
        if (reference := scope.resolve(chain)) is not None:
            yield reference._replace(written=chain[0] in analysis.written)
    for index, default in enumerate(definition.__defaults__ or ()):
        yield Reference(f"{label}:<default>:{index}", default, None)
    for name, default in sorted((definition.__kwdefaults__ or {}).items()):
        yield Reference(f"{label}:<default>:{name}", default, None)


def _class_references(cls: type) -> Iterator[Reference]:
    analysis = analyse_class(cls)
    module = sys.modules.get(cls.__module__)
    scope = _Scope(vars(module) if module is not None else {}, {}, cls.__module__, "")
    for chain in analysis.chains:
        if (reference := scope.resolve(chain)) is not None:
            yield reference
    if not analysis.readable:
        for name, value in own_members(cls):
            yield Reference(f"{qualified_name(cls)}.{name}", value, None)


class _Scope(NamedTuple):
    """Where a definition's names live: its module's globals and its closure cells."""

    namespace: dict[str, object]
    cells: dict[str, CellType]
    module_name: str
    owner: str

    def resolve(self, chain: Chain) -> Reference | None:
        """The value ``chain`` names now, or None for builtins, unbound names and modules."""
        root = chain[0]
        if root in self.cells:
            try:
                value = self.cells[root].cell_contents
            except ValueError:  # the cell is still empty
                return None
            label = f"{self.owner}:<closure>:{root}"
        elif root in self.namespace:
            value, label = self.namespace[root], f"{self.module_name}:{root}"
        else:
            return None
        module: ModuleType | None = None
        for attribute in chain[1:]:
            if not isinstance(value, ModuleType):
                break
            members = vars(value)
            if attribute not in members:
                return None
            module, value = value, members[attribute]
            label = f"{module.__name__}:{attribute}"
        return None if isinstance(value, ModuleType) else Reference(label, value, module)


def as_definition(value: object) -> Definition | None:
    """The function or class behind ``value``, seeing through decorators and asset definitions.

    An asset definition is recognised by shape (a ``fn`` function and a ``key``): versioning
    sits below nothing that could name its class.
    """
    for _ in range(_MAX_UNWRAP):
        if isinstance(value, (FunctionType, type)):
            return value
        if isinstance(value, (MethodType, staticmethod, classmethod)):
            value = value.__func__
            continue
        attributes = getattr(value, "__dict__", None)
        if isinstance(attributes, dict) and "__wrapped__" in attributes:
            value = attributes["__wrapped__"]  # set by functools.wraps and its kin
            continue
        wrapped = getattr(value, "fn", None)
        if not isinstance(wrapped, FunctionType) or not hasattr(value, "key"):
            return None
        value = wrapped
    return None


def is_project_definition(definition: Definition, project_package: str) -> bool:
    """Whether ``definition`` is the project's own code rather than Python's or a library's."""
    if isinstance(definition, type):
        module = sys.modules.get(definition.__module__)
        return module is not None and is_project_module(module, project_package)
    package = str(definition.__module__).partition(".")[0]
    if package in _INSTALLED_PACKAGES:
        return False
    filename = definition.__code__.co_filename
    if filename.startswith("<"):
        # made by exec or eval: the project's only when made in a project module (a namedtuple's
        # generated __new__, say, is not)
        module = sys.modules.get(str(definition.__module__))
        return module is not None and is_project_module(module, project_package)
    return package == project_package or _is_project_path(filename)


def is_project_module(module: ModuleType, project_package: str) -> bool:
    """Whether ``module`` is the project's own (a builtin or extension module never is)."""
    package = module.__name__.partition(".")[0]
    if package in _INSTALLED_PACKAGES:
        return False
    path = getattr(module, "__file__", None)
    if not isinstance(path, str) or path.endswith((".so", ".pyd")):
        return False
    return package == project_package or _is_project_path(path)


@cache
def _is_project_path(path: str) -> bool:
    resolved = os.path.normcase(os.path.realpath(path))
    if _PACKAGE_DIRECTORY_NAMES.intersection(resolved.split(os.sep)):
        return False
    return not resolved.startswith(_library_directories())


@cache
def _library_directories() -> tuple[str, ...]:
    """The standard library and every directory that installed packages live in."""
    paths = sysconfig.get_paths()
    directories = {paths[name] for name in ("stdlib", "platstdlib", "purelib", "platlib")}
    directories.update(getattr(site, "getsitepackages", list)())
    if site.ENABLE_USER_SITE and (user_site := site.getusersitepackages()):
        directories.add(user_site)
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        directories.update(os.path.join(prefix, lib) for lib in ("lib", "lib64", "Lib"))
    resolved = {os.path.normcase(os.path.realpath(directory)) for directory in directories}
    return tuple(sorted(os.path.join(directory, "") for directory in resolved))
