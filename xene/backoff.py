"""Jittered exponential backoff: the one home of every retry, reconnect and polling delay.

Randomness is injected, so tests see exact delays; sleeping stays with the caller (asyncio.sleep,
an injected clock's sleep, or a timed wait on a stop event), so one object serves every loop.
"""

from __future__ import annotations

import random
from collections.abc import Callable

# 2.0 ** 1000 is still a float; beyond that the delay is at its maximum anyway.
_MAX_EXPONENT = 1000


class Backoff:
    """Delays that grow from `initial` by `multiplier` per attempt up to `maximum`, jittered.

    `jitter` is the random share of each delay: 0.5 (the default) waits 50-100 % of it, so many
    clients that failed together do not retry in lock-step; 1.0 waits 0-100 % ("full jitter",
    for writers that just collided); 0 waits exactly the delay (polling for a state).
    """

    def __init__(
        self,
        initial: float = 0.2,
        maximum: float = 5.0,
        *,
        multiplier: float = 2.0,
        jitter: float = 0.5,
        random_fraction: Callable[[], float] = random.random,
    ) -> None:
        if not 0 < initial <= maximum:
            raise ValueError("backoff needs 0 < initial <= maximum")
        if multiplier < 1:
            raise ValueError("backoff needs a multiplier of at least 1")
        if not 0 <= jitter <= 1:
            raise ValueError("backoff jitter is a fraction from 0 to 1")
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
        self.jitter = jitter
        self._random = random_fraction
        self.attempt = 0

    def __repr__(self) -> str:
        return f"Backoff({self.initial:g}..{self.maximum:g}s, attempt {self.attempt})"

    def base_delay(self, attempt: int) -> float:
        """The delay before retry `attempt` (0 for the first), without jitter."""
        exponent = min(max(attempt, 0), _MAX_EXPONENT)
        return min(self.maximum, self.initial * self.multiplier**exponent)

    def delay(self, attempt: int) -> float:
        """The jittered delay before retry `attempt` (0 for the first); keeps no state."""
        return self.base_delay(attempt) * (1 - self.jitter + self.jitter * self._random())

    def next_delay(self) -> float:
        """The delay to wait now; each call moves on to the next, longer one."""
        delay = self.delay(self.attempt)
        if self.base_delay(self.attempt) < self.maximum:
            self.attempt += 1
        return delay

    def reset(self) -> None:
        """Start from the initial delay again (after an attempt that worked)."""
        self.attempt = 0
