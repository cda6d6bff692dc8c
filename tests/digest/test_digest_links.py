"""Digest links: the fast signer makes exactly the tokens :mod:`pressroom.tokens` makes."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from pressroom.digest.links import LinkMaker
from pressroom.tokens import make_token, read_token


@given(
    st.sampled_from(["unsubscribe", "preferences", "confirm"]),
    st.integers(min_value=0, max_value=2**40),
    st.datetimes(
        min_value=datetime(2001, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    st.text(min_size=16, max_size=40),
)
def test_link_maker_tokens_are_those_of_make_token(
    purpose: str, subscriber_id: int, issued: datetime, secret: str
) -> None:
    links = LinkMaker(secret, "https://news.example.cn/", issued)
    token = links.token(purpose, subscriber_id)
    assert token == make_token(secret, purpose, subscriber_id, issued)
    assert read_token(secret, token, purpose, issued).subscriber_id == subscriber_id
    assert links.link(purpose, subscriber_id) == f"https://news.example.cn/{purpose}/{token}"
