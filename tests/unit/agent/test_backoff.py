"""Reconnect delays: exponential, capped, jittered, reset after success."""

from __future__ import annotations

import pytest

from xene.agent.backoff import ReconnectBackoff


def test_delays_double_up_to_the_cap_with_no_jitter_at_the_top() -> None:
    backoff = ReconnectBackoff(initial=0.2, maximum=5.0, random_fraction=lambda: 1.0)
    delays = [round(backoff.next_delay(), 3) for _ in range(8)]
    assert delays == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]


def test_jitter_scales_each_delay_between_half_and_full() -> None:
    backoff = ReconnectBackoff(initial=1.0, maximum=8.0, random_fraction=lambda: 0.0)
    assert [backoff.next_delay() for _ in range(3)] == [0.5, 1.0, 2.0]
    fractions = iter([0.0, 0.5, 1.0])
    backoff = ReconnectBackoff(initial=4.0, maximum=4.0, random_fraction=lambda: next(fractions))
    assert [backoff.next_delay() for _ in range(3)] == [2.0, 3.0, 4.0]


def test_reset_starts_from_the_initial_delay_again() -> None:
    backoff = ReconnectBackoff(initial=0.5, maximum=5.0, random_fraction=lambda: 1.0)
    for _ in range(10):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_many_failures_never_overflow() -> None:
    backoff = ReconnectBackoff(initial=0.1, maximum=5.0, random_fraction=lambda: 1.0)
    for _ in range(10_000):
        assert backoff.next_delay() <= 5.0


def test_nonsense_bounds_are_refused() -> None:
    with pytest.raises(ValueError):
        ReconnectBackoff(initial=10.0, maximum=1.0)
