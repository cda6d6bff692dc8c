"""Reading and checking the posted forms; problems come back as one sentence for the page."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from starlette.datastructures import FormData
from starlette.requests import Request

from pressroom.models import Frequency
from pressroom.subscribers.addresses import InvalidAddress, normalise_email
from pressroom.subscribers.lifecycle import SubscribeForm

__all__ = [
    "FormError",
    "RawSubscribe",
    "parse_choices",
    "parse_subscribe",
    "read_form",
]

MAX_NAME_CHARS = 100
MAX_EMAIL_CHARS = 320
MAX_FIELDS = 200


class FormError(ValueError):
    """A posted form cannot be used; the message is shown to the visitor (zh-CN)."""


@dataclass
class RawSubscribe:
    """What the visitor typed, kept to fill the form in again after an error."""

    email: str = ""
    name: str = ""
    frequency: str = Frequency.DAILY.value
    sections: list[str] = field(default_factory=list)


async def read_form(request: Request) -> FormData:
    """The posted form, decoded strictly as UTF-8.

    Starlette would turn invalid bytes into U+FFFD (or read them as Latin-1) and we would
    store and mail ``��@example.com``; the whole body must be UTF-8 and every
    percent-escape must decode to UTF-8.

    Raises:
        FormError: the body is not a form, not UTF-8, or has too many fields.
    """
    body = await request.body()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise FormError(_NOT_UTF8) from None
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        try:  # multipart: Starlette parses the (UTF-8) body it has cached
            return await request.form(max_files=0, max_fields=MAX_FIELDS)
        except Exception as exc:  # multipart errors come in several types
            raise FormError("提交的表单无法读取，请重新填写。") from exc
    try:
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError:
        raise FormError(_NOT_UTF8) from None
    except ValueError as exc:
        raise FormError("提交的表单字段太多。") from exc
    return FormData([(name, value) for name, value in pairs])


_NOT_UTF8 = "提交的内容含有无效的字符（不是 UTF-8 编码），请重新填写。"


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _clean_name(text: str) -> str:
    cleaned = "".join(" " if ord(ch) < 0x20 or ch == "\x7f" else ch for ch in text)
    return " ".join(cleaned.split())[:MAX_NAME_CHARS]


def raw_subscribe(form: FormData) -> RawSubscribe:
    """The subscribe form's fields as typed (for re-display)."""
    return RawSubscribe(
        email=_text(form, "email").strip()[:MAX_EMAIL_CHARS],
        name=_clean_name(_text(form, "name")),
        frequency=_text(form, "frequency") or Frequency.DAILY.value,
        sections=[v for v in form.getlist("sections") if isinstance(v, str)],
    )


def parse_choices(
    form: FormData, known_sections: Collection[str], *, default_frequency: str | None
) -> tuple[tuple[str, ...], Frequency]:
    """Sections (known slugs only, none = all) and frequency from a posted form."""
    sections = tuple(dict.fromkeys(v for v in form.getlist("sections") if isinstance(v, str)))
    unknown = [slug for slug in sections if slug not in known_sections]
    if unknown:
        raise FormError(f"没有这个栏目：{unknown[0][:40]}。")
    chosen = _text(form, "frequency") or default_frequency
    if not chosen:
        raise FormError("请选择接收频率。")
    try:
        frequency = Frequency(chosen)
    except ValueError:
        raise FormError("接收频率只能是每日或每周。") from None
    return sections, frequency


def parse_subscribe(form: FormData, known_sections: Collection[str]) -> SubscribeForm:
    """Validate the subscribe form.

    Raises:
        FormError: the address is missing or invalid, or a choice is unknown.
    """
    raw = raw_subscribe(form)
    if not raw.email:
        raise FormError("请填写电子邮箱。")
    if len(_text(form, "email")) > MAX_EMAIL_CHARS:
        raise FormError("电子邮箱太长。")
    try:
        email = normalise_email(raw.email)
    except InvalidAddress:
        raise FormError("电子邮箱格式不正确，请检查后再试。") from None
    sections, frequency = parse_choices(
        form, known_sections, default_frequency=Frequency.DAILY.value
    )
    return SubscribeForm(email=email, name=raw.name, sections=sections, frequency=frequency)
