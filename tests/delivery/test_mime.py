"""Wire rules: RFC 2047 words decode back, no control character survives, lines stay short."""

from __future__ import annotations

from email.header import decode_header, make_header

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pressroom.delivery.mime import encode_phrase, encode_words, fold_body, format_address, one_line


@given(st.text(min_size=1, max_size=300))
@settings(max_examples=200, deadline=None)
def test_encoded_words_decode_to_the_one_line_text(text: str) -> None:
    clean = one_line(text)
    encoded = encode_words(clean)
    assert all(len(word) <= 75 for word in encoded.split("\r\n "))
    assert "\n" not in encoded.replace("\r\n ", "")
    assert str(make_header(decode_header(encoded.replace("\r\n", "")))) == clean


@given(st.text(max_size=200))
def test_one_line_leaves_no_line_break_or_control_character(text: str) -> None:
    flat = one_line(text)
    assert not any(ord(c) < 32 or c in "\x7f\u0085\u2028\u2029" for c in flat)


def test_phrases_stay_plain_only_when_safe() -> None:
    assert encode_phrase("Weekly Reader") == "Weekly Reader"
    assert encode_phrase('Evil "quote", <x>').startswith("=?utf-8?b?")
    assert format_address("", "a@x.com") == "a@x.com"
    assert format_address("王读者\r\nBcc: x@y.com", "a@x.com").endswith(" <a@x.com>")
    assert "\n" not in format_address("王读者\r\nBcc: x@y.com", "a@x.com")


@given(
    st.lists(
        st.one_of(
            st.text(alphabet="新闻要点,。", min_size=1, max_size=900),
            st.builds(lambda n: "<td " + 'style="color: red;" ' * n + ">", st.integers(0, 80)),
            st.text(min_size=0, max_size=400),
        ),
        max_size=6,
    )
)
@settings(max_examples=150, deadline=None)
def test_fold_body_keeps_every_line_short_and_the_text_intact(pieces: list[str]) -> None:
    text = "".join(pieces).replace("\r", "")
    folded = fold_body(text, limit=200)
    lines = folded.split(b"\r\n")
    assert all(len(line) <= 200 for line in lines)
    assert b"\r" not in folded.replace(b"\r\n", b"")
    squashed = folded.decode("utf-8").replace("\r\n", "").replace(" ", "")
    assert squashed == text.replace("\n", "").replace(" ", "")


def test_fold_body_prefers_breaking_inside_a_tag() -> None:
    line = "<p>" + "文" * 50 + '</p><td style="a: b;" class="c" id="d">' + "x" * 10
    folded = fold_body(line, limit=len(line.encode()) - 12)
    first, second = folded.split(b"\r\n")
    assert first.endswith(b'class="c"') and second == b'id="d">' + b"x" * 10


@given(
    st.lists(
        st.one_of(
            st.sampled_from(["MARKAX", "MARKBX", " ", "<b>", "</b>", "<a href=x>"]),
            st.text(alphabet="新闻abc ", min_size=1, max_size=60),
        ),
        max_size=80,
    )
)
@settings(max_examples=150, deadline=None)
def test_fold_body_leaves_room_for_values_and_never_splits_a_mark(pieces: list[str]) -> None:
    room = {"MARKAX": 150, "MARKBX": 40}
    folded = fold_body("".join(pieces), limit=300, room=room)
    filled = folded.replace(b"MARKAX", b"a" * 150).replace(b"MARKBX", b"b" * 40)
    assert all(len(line) <= 300 for line in filled.split(b"\r\n"))
    assert folded.count(b"MARK") == "".join(pieces).count("MARK")


def test_fold_body_refuses_a_value_longer_than_a_line() -> None:
    with pytest.raises(ValueError, match="may exceed the 300-byte line limit"):
        fold_body("x " * 100 + "MARKAX MARKAX", limit=300, room={"MARKAX": 301})


def test_quoted_printable_around_marks_decodes_as_the_filled_8bit_text() -> None:
    import binascii
    import random

    from pressroom.delivery.mime import qp_around_marks, qp_value

    rng = random.Random(5)
    alphabet = "ab 中文.=\t<>" + "x" * 10
    for _ in range(200):
        words = [
            "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120))) for _ in range(6)
        ]
        values = [
            "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 300))) for _ in range(2)
        ]
        marks = [b"MARKAX", b"MARKBX"]
        body = (words[0] + "MARKAX" + words[1] + "\r\n" + words[2] + "MARKBX" + "\r\n"
                + words[3] + "MARKAX" + words[4] + "MARKBX").encode()  # fmt: skip
        encoded = qp_around_marks(body, marks)
        filled = encoded.replace(b"MARKAX", qp_value(values[0].encode()))
        filled = filled.replace(b"MARKBX", qp_value(values[1].encode()))
        expected = body.replace(b"MARKAX", values[0].encode()).replace(
            b"MARKBX", values[1].encode()
        )
        assert filled.isascii()
        assert max(len(line) for line in filled.split(b"\r\n")) <= 76
        assert binascii.a2b_qp(filled) == expected
