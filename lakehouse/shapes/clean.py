"""Text repair for one field: mojibake, HTML markup, Unicode NFC, whitespace. Pure and cached.

Each step counts one repair per field it changed, under ``mojibake``, ``html``, ``nfc``, ``whitespace``.
"""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache
from typing import Mapping, MutableMapping


_TAG_NAMES = (
    "p|br|div|span|a|b|i|u|em|strong|ul|ol|li|h[1-6]|table|thead|tbody|tr|td|th|blockquote|img|font|pre|code"
    "|hr|sup|sub|small|section|article|header|footer|center"
)
_TAG = re.compile(rf"</?(?:{_TAG_NAMES})(?:\s[^<>]*)?/?>", re.IGNORECASE)
_ENTITY = re.compile(r"&(?:[a-zA-Z][a-zA-Z0-9]{1,7}|#[0-9]{2,6}|#[xX][0-9a-fA-F]{2,5});")
_TAG_NAME = re.compile(rf"</?({_TAG_NAMES})(?:\s[^<>]*)?/?>", re.IGNORECASE)
_CODE_HINT = re.compile(
    r"```|<!DOCTYPE|<html\b|<head\b|<body\b|<script\b|<style\b|<\?php|className=|=>|\becho\b|\bfunction\b"
    r"|^\s*(?:import|from|def|class|const|let|var|public|private)\s+\w|[;{]\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_INDENTED_TAG_LINE = re.compile(r"^[ \t]+<[a-zA-Z/][^>]*>", re.MULTILINE)
_BLOCK_TAGS = ("p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol", "table", "pre",
               "section", "article", "header", "footer")
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_HSPACE_RUN = re.compile(r"(?<=\S)[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]{2,}|[\t\u00a0\u2000-\u200a\u202f\u205f\u3000]")
_INDENT = re.compile(r"^[ \t\u00a0\u3000]++(?![-*+\u2022][ \t]|\d{1,3}[.)][ \t])", re.MULTILINE)
_TRAILING = re.compile(r"[ \t]+\n")
_MANY_NEWLINES = re.compile(r"\n{3,}")


def looks_like_html(text: str) -> bool:
    """True when the field holds markup to render as text: known tags (two or more, or one <br>/<p>)
    and no sign of source code (code fences, whole documents, scripts, JSX/PHP, tag-only indented
    lines), so an answer that *shows* HTML code is left alone."""
    if "<" not in text:
        return False
    names = {m.group(1).lower() for m in _TAG_NAME.finditer(text)}
    if not names or (len(names) < 2 and not names & {"p", "br", "li"}):
        return False
    if _CODE_HINT.search(text):
        return False
    return len(_INDENTED_TAG_LINE.findall(text)) < 2


def html_to_text(text: str) -> str:
    """Markup to plain text: block tags and <br> become line breaks, entities are decoded."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "html.parser")
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for tag in soup.find_all(_BLOCK_TAGS):
        tag.insert_after("\n\n" if tag.name in ("p", "div", "blockquote", "table", "pre") else "\n")
    for tag in soup.find_all(["script", "style"]):
        tag.decompose()
    return soup.get_text()


def fix_mojibake(text: str) -> str:
    if text.isascii():
        return text
    import ftfy

    return ftfy.fix_encoding(text)


def _looks_like_code(text: str) -> bool:
    return bool(_CODE_HINT.search(text) or _INDENTED_TAG_LINE.search(text))


def normalize_whitespace(text: str) -> str:
    """CRLF/CR -> LF, invisible characters removed, inner space runs collapsed, lines stripped, at
    most two consecutive newlines, the whole stripped. Line indentation is kept before list markers
    and in text that looks like source code."""
    s = text.replace("\r\n", "\n").replace("\r", "\n")
    s = _INVISIBLE.sub("", s)
    if "\n" in s and not _looks_like_code(s):
        s = _INDENT.sub("", s)
    s = _HSPACE_RUN.sub(" ", s)
    s = _TRAILING.sub("\n", s)
    s = _MANY_NEWLINES.sub("\n\n", s)
    return s.strip()


@lru_cache(maxsize=8192)
def _clean(text: str) -> tuple[str, tuple[tuple[str, int], ...]]:
    repairs: list[tuple[str, int]] = []
    s = fix_mojibake(text)
    if s != text:
        repairs.append(("mojibake", 1))
    if looks_like_html(s):
        t = html_to_text(s)
        if t != s:
            repairs.append(("html", 1))
        s = t
    elif "&" in s and _ENTITY.search(s):
        t = html.unescape(s)
        if t != s:
            repairs.append(("html", 1))
        s = t
    if not unicodedata.is_normalized("NFC", s):
        s = unicodedata.normalize("NFC", s)
        repairs.append(("nfc", 1))
    t = normalize_whitespace(s)
    if t != s:
        repairs.append(("whitespace", 1))
    return t, tuple(repairs)


def clean_text(text: str, repairs: MutableMapping[str, int] | None = None) -> str:
    """The repaired text; adds one count per applied repair kind to ``repairs`` when given."""
    out, done = _clean(text)
    if repairs is not None:
        for kind, n in done:
            repairs[kind] = repairs.get(kind, 0) + n
    return out


def add_repairs(total: MutableMapping[str, int], more: Mapping[str, int]) -> None:
    for k, v in more.items():
        if v:
            total[k] = total.get(k, 0) + v
