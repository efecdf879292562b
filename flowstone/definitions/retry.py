"""Retry policy of an asset: how many extra attempts, and how long to wait between them."""

from __future__ import annotations

from dataclasses import dataclass

from flowstone.errors import DefinitionError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Extra attempts after a failure, with exponential backoff.

    Example:
        >>> RetryPolicy(max_retries=3, delay=0.5).delay_before(2)
        1.0
    """

    max_retries: int = 0
    delay: float = 0.5
    backoff: float = 2.0
    max_delay: float = 60.0

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.delay < 0 or self.backoff < 1 or self.max_delay < 0:
            raise DefinitionError(
                f"Invalid {self!r}: max_retries, delay and max_delay must be >= 0 and backoff >= 1."
            )

    @classmethod
    def of(cls, retries: int) -> RetryPolicy:
        """The default backoff with ``retries`` extra attempts."""
        if isinstance(retries, bool) or not isinstance(retries, int):
            raise DefinitionError(f"retries= takes an int or a RetryPolicy; got {retries!r}.")
        return cls(max_retries=retries)

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before ``attempt`` (the first retry is attempt 1)."""
        return float(min(self.max_delay, self.delay * self.backoff ** (attempt - 1)))
