"""The retry schedule (models/delivery.py): exponential back-off with full jitter, never
sooner than a provider's Retry-After, both capped."""

from __future__ import annotations

import random

from deskgate.models.delivery import (
    BACKOFF_MAX_SECONDS,
    RETRY_AFTER_MAX_SECONDS,
    next_attempt_delay,
)


def test_backoff_grows_is_jittered_and_capped() -> None:
    rng = random.Random(7)
    for attempt, ceiling in ((1, 2.0), (2, 4.0), (3, 8.0), (5, 32.0), (30, BACKOFF_MAX_SECONDS)):
        delays = {next_attempt_delay(attempt, None, rng) for _ in range(200)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (attempt, min(delays))
        assert len(delays) > 150                 # spread out, not one instant for everyone


def test_retry_after_is_honoured_and_bounded() -> None:
    rng = random.Random(1)
    assert all(next_attempt_delay(1, 120.0, rng) >= 120.0 for _ in range(50))
    assert next_attempt_delay(1, 10 ** 9, rng) == RETRY_AFTER_MAX_SECONDS
    # a Retry-After shorter than the back-off does not shorten it
    assert all(next_attempt_delay(6, 0.5, rng) >= 32.0 for _ in range(50))
