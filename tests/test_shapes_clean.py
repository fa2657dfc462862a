"""Field cleaning: mojibake, HTML (only real markup), NFC, whitespace; counts per repair kind."""

from __future__ import annotations

import unicodedata

import pytest

from lakehouse.shapes import clean_text
from lakehouse.shapes.clean import looks_like_html


def cleaned(text: str) -> tuple[str, dict[str, int]]:
    repairs: dict[str, int] = {}
    return clean_text(text, repairs), repairs


def test_mojibake() -> None:
    assert cleaned("I donâ€™t feel â€œokâ€\x9d") == ("I don’t feel “ok”", {"mojibake": 1})
    assert cleaned("fiancÃ© cafÃ©") == ("fiancé café", {"mojibake": 1})
    assert cleaned("already fine — “quotes”") == ("already fine — “quotes”", {})


def test_html_markup_to_text() -> None:
    assert cleaned("<p>First&nbsp;para</p><p>Second <b>bold</b></p>") == ("First para\n\nSecond bold",
                                                                         {"html": 1, "whitespace": 1})
    assert cleaned("one<br/>two") == ("one\ntwo", {"html": 1})
    assert cleaned("<ul><li>a</li><li>b</li></ul>")[0] == "a\nb"
    assert cleaned("Fish &amp; chips") == ("Fish & chips", {"html": 1})


@pytest.mark.parametrize("text", [
    "if a < b and c > d then",
    "Use the <b>bold</b> tag for emphasis",
    "```html\n<div>\n  <p>Hi</p>\n</div>\n```",
    "Here is a table:\n\n<table>\n    <tr>\n        <td>1</td>\n    </tr>\n</table>",
    "<!DOCTYPE html>\n<html><body><p>x</p></body></html>",
    'echo "done<br />";',
    "return (<div className=\"App\"><p>{name}</p></div>);",
])
def test_code_and_comparisons_are_not_html(text: str) -> None:
    assert not looks_like_html(text)


def test_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "café")
    assert cleaned(decomposed) == ("café", {"nfc": 1})


def test_whitespace() -> None:
    assert cleaned("  a   b\t\tc \r\n\r\n\r\n\r\nd\re  ") == ("a b c\n\nd\ne", {"whitespace": 1})
    assert cleaned("Hi.\n   I barely sleep.\n   Why?") == ("Hi.\nI barely sleep.\nWhy?", {"whitespace": 1})
    assert cleaned("List:\n- a\n  - nested\n  1. x") == ("List:\n- a\n  - nested\n  1. x", {})
    assert cleaned("def f():\n    return 1") == ("def f():\n    return 1", {})
    assert cleaned("zero\u200bwidth\u00a0space") == ("zerowidth space", {"whitespace": 1})


def test_no_repairs_dict_is_fine() -> None:
    assert clean_text(" x ") == "x"
