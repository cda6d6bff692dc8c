"""Bytes on the wire: RFC 2047 encoded words, header folding and body line limits.

Kept apart from composition so every rule cites its RFC in one place:
- RFC 5322 2.1.1: lines end in CRLF and hold at most 998 bytes (we keep well under).
- RFC 2047: non-ASCII header text as ``=?utf-8?b?...?=`` words of at most 75 characters.
- RFC 6532 / 6531: an address's local part may be UTF-8 (the transport needs SMTPUTF8).
- RFC 2045 6.7: quoted-printable, lines of at most 76 characters, for relays without
  8BITMIME (RFC 6152).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from email import message_from_bytes, policy

__all__ = [
    "BODY_LINE_LIMIT",
    "encode_phrase",
    "encode_words",
    "fold_body",
    "format_address",
    "one_line",
    "qp_around_marks",
    "qp_value",
    "seven_bit",
]

BODY_LINE_LIMIT = 990
"""Body lines are folded at this many bytes (RFC 5322 allows 998)."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")
_ATOM_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+")
_WORD_BYTES = 45  # 45 bytes -> 60 base64 chars; with "=?utf-8?b?" and "?=" 72 <= 75


def one_line(text: str) -> str:
    """``text`` with every control character (CR, LF, NUL, ...) turned into one space.

    This is what keeps an article title or a subscriber name from adding a header.
    """
    return " ".join(_CONTROL.sub(" ", text).split())


def encode_words(text: str) -> str:
    """RFC 2047 encoded words for ``text`` (already one line), folded with CRLF SP."""
    raw = text.encode("utf-8")
    if len(raw) <= _WORD_BYTES:  # the common case: one word
        return "=?utf-8?b?" + base64.b64encode(raw).decode("ascii") + "?="
    words: list[str] = []
    chunk = b""
    for char in text:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > _WORD_BYTES:
            words.append(chunk.decode("utf-8"))
            chunk = b""
        chunk += encoded
    if chunk or not words:
        words.append(chunk.decode("utf-8"))
    return "\r\n ".join(
        "=?utf-8?b?" + base64.b64encode(w.encode("utf-8")).decode("ascii") + "?=" for w in words
    )


def encode_phrase(text: str) -> str:
    """A display name for an address header: plain when it is a safe atom phrase."""
    clean = one_line(text)
    if _ATOM_PHRASE.fullmatch(clean) and len(clean) < 60:
        return clean
    return encode_words(clean)


def format_address(name: str, address: str) -> str:
    """``Name <address>`` with the name encoded, or the bare address when no name."""
    phrase = encode_phrase(name) if one_line(name) else ""
    return f"{phrase} <{address}>" if phrase else address


def fold_body(
    text: str, limit: int = BODY_LINE_LIMIT, room: Mapping[str, int] | None = None
) -> bytes:
    """``text`` as UTF-8 with CRLF line ends and no line longer than ``limit`` bytes.

    A long line is broken, in order of preference: at a space inside an HTML tag (between
    attributes: invisible), after a tag's ``>``, at any space, else between characters.

    Args:
        text: the body.
        limit: the longest line allowed, in bytes.
        room: marks (ASCII words) that will later be replaced by values of up to
            ``room[mark]`` bytes; a line holding marks is folded so that it stays within
            ``limit`` after the replacement, and never inside a mark.

    Raises:
        ValueError: one mark's room alone exceeds ``limit``.
    """
    marks = {m.encode("ascii"): n for m, n in (room or {}).items()}
    out: list[bytes] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        encoded = line.encode("utf-8")
        while len(encoded) + _growth(encoded, marks) > limit:
            budget = _budget(encoded, limit, marks)
            if budget <= 0:
                raise ValueError(f"a per-recipient value may exceed the {limit}-byte line limit")
            cut = _break_at(encoded, budget)
            out.append(encoded[:cut].rstrip(b" "))
            encoded = encoded[cut:]
        out.append(encoded)
    return b"\r\n".join(out)


def _growth(line: bytes, marks: Mapping[bytes, int]) -> int:
    return sum((room - len(m)) * line.count(m) for m, room in marks.items() if m in line)


def _budget(line: bytes, limit: int, marks: Mapping[bytes, int]) -> int:
    """The longest prefix of ``line`` that fits in ``limit`` bytes once its marks are
    filled in; it never ends inside a mark."""
    spans = sorted(
        (match.start(), match.end(), room)
        for mark, room in marks.items()
        for match in re.finditer(re.escape(mark), line)
    )
    extra = 0
    for start, end, room in spans:
        if start + extra > limit:
            break
        if room + start + extra > limit:  # this value does not fit on the line: cut before
            return start
        extra += room - (end - start)
    return limit - extra


def _break_at(line: bytes, limit: int) -> int:
    window = line[:limit]
    inside_tag = _last_space_inside_tag(window)
    if inside_tag > limit // 4:
        return inside_tag
    tag_end = window.rfind(b">") + 1
    if tag_end > limit // 4:
        return tag_end
    space = window.rfind(b" ")
    if space > limit // 4:
        return space + 1
    cut = limit
    while cut > 0 and (line[cut] & 0xC0) == 0x80:  # never split a UTF-8 sequence
        cut -= 1
    return cut


def _last_space_inside_tag(window: bytes) -> int:
    depth_open = window.rfind(b"<")
    if depth_open < window.rfind(b">"):
        return -1
    space = window.rfind(b" ", depth_open)
    return space + 1 if space > depth_open else -1


# ---------------------------------------------------------------------------- 7bit


_QP_LINE = 76


def qp_value(value: bytes) -> bytes:
    """``value`` quoted-printable (CRLF line ends), its last line short enough to take
    the soft line break ``=`` that :func:`qp_around_marks` puts after every mark."""
    encoded = binascii.b2a_qp(value, istext=True)
    if b"\r\n" not in value:  # b2a_qp breaks soft lines with the input's line ending
        encoded = encoded.replace(b"=\n", b"=\r\n")
    start = encoded.rfind(b"\n") + 1
    if len(encoded) - start < _QP_LINE:
        return encoded
    cut = start + _QP_LINE - 3
    if encoded[cut - 1 : cut] == b"=":  # never inside "=XX"
        cut -= 1
    elif encoded[cut - 2 : cut - 1] == b"=":
        cut -= 2
    return encoded[:cut] + b"=\r\n" + encoded[cut:]


def qp_around_marks(body: bytes, marks: Iterable[bytes]) -> bytes:
    """``body`` (CRLF lines) quoted-printable, with each mark kept whole on a line of its
    own between soft line breaks, so that a mark can later be replaced by a value encoded
    with :func:`qp_value` and every line stays within 76 characters (RFC 2045 6.7).

    Quoted-printable encodes each byte on its own, so a message encoded this way once
    per content, with the per-recipient values encoded per message, decodes exactly as
    the 8bit message would.
    """
    pattern = re.compile(b"(" + b"|".join(re.escape(m) for m in marks) + b")")
    pieces = pattern.split(body)
    out: list[bytes] = []
    for index, piece in enumerate(pieces):
        if index % 2:
            out.append(b"=\r\n" + piece + b"=\r\n")
        elif piece:
            out.append(qp_value(piece))
    return b"".join(out)


def seven_bit(data: bytes) -> bytes:
    """A whole message with every 8bit body part re-encoded quoted-printable.

    For messages that come without their own 7bit form (see
    :class:`~pressroom.delivery.outgoing.OutgoingMessage`): parsing and serialising
    costs about a millisecond, and a DKIM signature over the 8bit body no longer holds.
    """
    message = message_from_bytes(data, policy=policy.SMTP)
    for part in message.walk():
        if part.is_multipart():
            continue
        cte = str(part.get("Content-Transfer-Encoding", "7bit")).strip().lower()
        if cte not in ("8bit", "binary", "7bit"):
            continue
        raw = part.get_payload(decode=True)
        if not isinstance(raw, bytes) or raw.isascii():
            continue
        del part["Content-Transfer-Encoding"]
        part["Content-Transfer-Encoding"] = "quoted-printable"
        part.set_payload(
            qp_value(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")).decode("ascii")
        )
    return message.as_bytes(policy=policy.SMTP)
