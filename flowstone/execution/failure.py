"""How a run reports failures: an asset's error as its traceback, a task group's as one error."""

from __future__ import annotations

import traceback

from flowstone.errors import FlowstoneError


def sole_flowstone_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one flowstone error inside a task group's exception group, else the group itself."""
    errors = group.exceptions
    while len(errors) == 1 and isinstance(errors[0], BaseExceptionGroup):
        errors = errors[0].exceptions
    if len(errors) == 1 and isinstance(errors[0], FlowstoneError):
        return errors[0]
    return group


def describe_error(exc: BaseException) -> str:
    """An asset's own error as the store keeps it: the full traceback, to debug it later."""
    return "".join(traceback.format_exception(exc)).rstrip()
