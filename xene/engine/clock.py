"""The clock the engine reads time stamps from and sleeps on (injected so tests need no waits)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Protocol

from xene.api.meta import utc_now


class Clock(Protocol):
    """Wall-clock time for stamps and the sleep used between retries."""

    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds`; cancellable."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """The current time in UTC."""
        return utc_now()

    async def sleep(self, seconds: float) -> None:
        """Sleep on the event loop."""
        await asyncio.sleep(seconds)


SYSTEM_CLOCK = SystemClock()
