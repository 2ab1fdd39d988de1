"""Jittered exponential backoff for reconnects, with the randomness injected for tests."""

from __future__ import annotations

import random
from collections.abc import Callable


class ReconnectBackoff:
    """Delays that double from `initial` up to `maximum`, each scaled by a random 50-100 %.

    The jitter keeps many agents that lost the same server from reconnecting in lock-step.
    """

    def __init__(
        self,
        initial: float = 0.2,
        maximum: float = 5.0,
        multiplier: float = 2.0,
        random_fraction: Callable[[], float] = random.random,
    ) -> None:
        if not 0 < initial <= maximum:
            raise ValueError("backoff needs 0 < initial <= maximum")
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
        self._random = random_fraction
        self.attempt = 0

    def reset(self) -> None:
        """Back to the initial delay (after a connection that worked)."""
        self.attempt = 0

    def next_delay(self) -> float:
        """The delay before the next attempt."""
        base = min(self.maximum, self.initial * self.multiplier**self.attempt)
        if base < self.maximum:
            self.attempt += 1
        return base * (0.5 + 0.5 * self._random())
