"""Cleanup that must finish even when the coroutine running it is cancelled again meanwhile."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


async def complete_despite_cancel(work: Awaitable[T]) -> T:
    """Await `work` to its end; a cancel arriving meanwhile is re-raised only afterwards.

    Used for killing a step's processes and removing containers: a task timeout firing during a
    step's kill grace period must not leave the step running or the container behind.
    """
    task = asyncio.ensure_future(work)
    cancelled = False
    while True:
        try:
            await asyncio.wait({task})
            break
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        if not task.cancelled() and task.exception() is not None:
            log.error("cleanup failed while cancelling", exc_info=task.exception())
        raise asyncio.CancelledError()
    return task.result()
