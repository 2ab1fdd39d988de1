"""Backoff delays: exponential, capped, jittered as configured, reset after success."""

from __future__ import annotations

import pytest

from xene.backoff import Backoff


def test_delays_double_up_to_the_cap_with_no_jitter_at_the_top() -> None:
    backoff = Backoff(initial=0.2, maximum=5.0, random_fraction=lambda: 1.0)
    delays = [round(backoff.next_delay(), 3) for _ in range(8)]
    assert delays == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]


def test_jitter_scales_each_delay_between_half_and_full() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0, random_fraction=lambda: 0.0)
    assert [backoff.next_delay() for _ in range(3)] == [0.5, 1.0, 2.0]
    fractions = iter([0.0, 0.5, 1.0])
    backoff = Backoff(initial=4.0, maximum=4.0, random_fraction=lambda: next(fractions))
    assert [backoff.next_delay() for _ in range(3)] == [2.0, 3.0, 4.0]


def test_full_jitter_spreads_over_the_whole_delay_and_none_waits_it_exactly() -> None:
    full = Backoff(initial=0.002, maximum=0.05, jitter=1.0, random_fraction=lambda: 0.25)
    assert [full.delay(attempt) for attempt in (0, 1, 10)] == [0.0005, 0.001, 0.0125]
    exact = Backoff(initial=0.01, maximum=0.2, jitter=0.0, random_fraction=lambda: 0.9)
    assert [exact.next_delay() for _ in range(6)] == [0.01, 0.02, 0.04, 0.08, 0.16, 0.2]


def test_delay_of_an_attempt_keeps_no_state() -> None:
    backoff = Backoff(initial=0.1, maximum=30.0, random_fraction=lambda: 1.0)
    assert backoff.delay(3) == pytest.approx(0.8)
    assert backoff.delay(3) == pytest.approx(0.8)
    assert backoff.attempt == 0


def test_reset_starts_from_the_initial_delay_again() -> None:
    backoff = Backoff(initial=0.5, maximum=5.0, random_fraction=lambda: 1.0)
    for _ in range(10):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_many_failures_never_overflow() -> None:
    backoff = Backoff(initial=0.1, maximum=5.0, random_fraction=lambda: 1.0)
    for _ in range(10_000):
        assert backoff.next_delay() <= 5.0
    assert backoff.delay(10**9) == 5.0


@pytest.mark.parametrize(
    "arguments",
    [
        {"initial": 10.0, "maximum": 1.0},
        {"initial": 0.0, "maximum": 1.0},
        {"multiplier": 0.5},
        {"jitter": 1.5},
    ],
)
def test_nonsense_settings_are_refused(arguments: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**arguments)  # type: ignore[arg-type]
