"""Agent text cannot close other issues or mention people once posted."""

import re

import pytest

from worker.neutralize import ZWJ, neutralize

# GitHub's closing keywords followed by a reference, and its mention syntax.
CLOSES = re.compile(
    r"\b(close[sd]?|fix(e[sd])?|resolve[sd]?)\s*:?\s*([\w.-]+/[\w.-]+)?#\d+", re.IGNORECASE
)
MENTION = re.compile(r"(?<![\w`])@[A-Za-z0-9]")


@pytest.mark.parametrize(
    "text",
    [
        "Closes #2",
        "this fixes #12 too",
        "FIXED: #3",
        "resolves octo/other#9",
        "Close other-org/x.y#1 and fixes #5",
        "closes https://github.com/o/r/issues/4",
        "Resolved GH-7",
    ],
)
def test_closing_keywords_no_longer_parse(text: str) -> None:
    out = neutralize(text)
    assert CLOSES.search(out) is None
    assert ZWJ in out
    assert out.replace(ZWJ, "") == text  # a reader sees the same words


@pytest.mark.parametrize("text", ["ping @octocat", "@org/team please", "(@a-b) done"])
def test_mentions_no_longer_link(text: str) -> None:
    out = neutralize(text)
    assert MENTION.search(out) is None
    assert out.replace(ZWJ, "") == text


@pytest.mark.parametrize(
    "text", ["mail me at a@b.com", "`@decorator` in code", "the fix is #2-compatible? no: closed."]
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert neutralize(text) == text
