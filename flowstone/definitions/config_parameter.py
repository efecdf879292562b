"""An asset's ``config`` parameter: a pydantic model whose values come from the run.

The model is found when the asset is declared (so a wrong annotation fails at the decorator);
values are validated when a run is planned, and their canonical JSON joins the provenance.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from flowstone.errors import DefinitionError

CONFIG_PARAMETER = "config"


def find_config_model(where: str, fn: Callable[..., Any]) -> type[BaseModel] | None:
    """The pydantic model ``fn``'s ``config`` parameter is annotated with, if it has one.

    Raises:
        DefinitionError: ``config`` is not annotated with a pydantic model class.
    """
    parameter = inspect.signature(fn).parameters.get(CONFIG_PARAMETER)
    if parameter is None:
        return None
    annotation = parameter.annotation
    if isinstance(annotation, str):
        try:
            annotation = typing.get_type_hints(fn).get(CONFIG_PARAMETER, annotation)
        except (NameError, TypeError, AttributeError):
            pass
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    raise DefinitionError(
        f"{where}: parameter 'config' receives the asset's configuration, so it must be annotated "
        f"with a pydantic model class defined at module level (got {annotation!r}). Annotate it, "
        f"e.g. `config: OrdersConfig`, or rename the parameter."
    )
