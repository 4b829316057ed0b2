"""Safe HTML from Python: `h("td", {"class": "x"}, text)` escapes every plain str it is
given; only `Html` (what h() and raw() return) passes through. No template engine: the
pages are small, and a builder that escapes by default cannot forget to."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape

VOID = frozenset({"br", "hr", "img", "input", "link", "meta"})


class Html(str):
    """Markup that is already safe (built by h() or raw())."""

    __slots__ = ()


def raw(text: str) -> Html:
    """Trusted markup written in this package (never data)."""
    return Html(text)


def render(child: object) -> str:
    """A child as markup: Html as is, None as nothing, str escaped, iterables joined."""
    if child is None:
        return ""
    if isinstance(child, Html):
        return str(child)
    if isinstance(child, str):
        return escape(child, quote=False)
    if isinstance(child, Iterable):
        return "".join(render(c) for c in child)
    return escape(str(child), quote=False)


def h(
    tag: str, attrs: Mapping[str, str | int | bool | None] | None = None, *children: object
) -> Html:
    """<tag attrs>children</tag>; attributes with None or False are left out, True is bare."""
    parts = [tag]
    for name, value in (attrs or {}).items():
        if value is None or value is False:
            continue
        parts.append(name if value is True else f'{name}="{escape(str(value), quote=True)}"')
    opening = f"<{' '.join(parts)}>"
    if tag in VOID:
        return Html(opening)
    return Html(f"{opening}{render(children)}</{tag}>")


def join(items: Iterable[object], sep: str = "") -> Html:
    return Html(escape(sep, quote=False).join(render(item) for item in items))
