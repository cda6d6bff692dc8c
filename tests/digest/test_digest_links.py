"""Digest links: the fast signer makes exactly the tokens :mod:`pressroom.tokens` makes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from pressroom.digest.links import LinkMaker
from pressroom.tokens import make_token, read_token

public_keys = st.binary(min_size=12, max_size=12).map(
    lambda raw: base64.urlsafe_b64encode(raw).decode("ascii")
)


@given(
    st.sampled_from(["unsubscribe", "preferences"]),
    public_keys,
    st.datetimes(
        min_value=datetime(2001, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    st.text(min_size=16, max_size=40),
)
def test_link_maker_tokens_are_those_of_make_token(
    purpose: str, public_key: str, issued: datetime, secret: str
) -> None:
    links = LinkMaker(secret, "https://news.example.cn/", issued)
    token = links.token(purpose, public_key)
    assert token == make_token(secret, purpose, public_key, issued)
    assert read_token(secret, token, purpose, issued).public_key == public_key
    assert links.link(purpose, public_key) == f"https://news.example.cn/{purpose}/{token}"


def test_links_carry_the_opaque_key_not_the_id() -> None:
    issued = datetime(2026, 11, 29, tzinfo=UTC)
    links = LinkMaker("s" * 32, "https://news.example.cn/", issued)
    one = links.token("unsubscribe", "A" * 16)
    other = links.token("unsubscribe", "B" * 16)
    assert one != other
    payload = base64.urlsafe_b64decode(one)
    assert payload[5:17] == base64.urlsafe_b64decode("A" * 16)
