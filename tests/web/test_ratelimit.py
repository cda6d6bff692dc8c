"""The token bucket behind the subscribe and token limits."""

from __future__ import annotations

import pytest

from pressroom.web.ratelimit import RateLimiter


class Ticker:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill_at_the_rate() -> None:
    ticker = Ticker()
    limiter = RateLimiter(6, burst=3, monotonic=ticker)  # one token every 10 s
    assert [limiter.hit("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.hit("a") == pytest.approx(10.0)
    ticker.now += 5
    assert limiter.hit("a") == pytest.approx(5.0)
    ticker.now += 5
    assert limiter.hit("a") == 0.0
    ticker.now += 1000
    assert [limiter.hit("a") for _ in range(4)][:3] == [0.0, 0.0, 0.0]  # capped at burst


def test_keys_are_independent() -> None:
    limiter = RateLimiter(1, burst=1, monotonic=Ticker())
    assert limiter.hit("a") == 0.0
    assert limiter.hit("a") > 0
    assert limiter.hit("b") == 0.0


def test_memory_is_bounded_by_forgetting_the_oldest_keys() -> None:
    limiter = RateLimiter(1, burst=1, max_keys=100, monotonic=Ticker())
    for i in range(1000):
        limiter.hit(f"client-{i}")
    assert len(limiter) == 100
    assert limiter.hit("client-999") > 0  # recent keys are still limited
    assert limiter.hit("client-0") == 0.0  # forgotten: a fresh bucket


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="per_minute"):
        RateLimiter(0)
