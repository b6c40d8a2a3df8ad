"""Text from the agent (or an issue) that Burndown posts must not act on GitHub.

GitHub closes an issue when a merged pull request's body or commit message says `Closes #2`,
`fixes owner/repo#3` or `resolves https://github.com/o/r/issues/4`, and notifies whoever an
`@name` mentions. `neutralize` breaks both with a zero-width joiner, which a reader does not
see: the keyword no longer parses, the mention no longer links. Burndown's own `Closes #n`
line is added after, untouched.
"""

import re

ZWJ = "\u200d"

_KEYWORDS = r"close[sd]?|fix(?:e[sd])?|resolve[sd]?"
_REFERENCE = (
    r"(?:[\w.-]+/[\w.-]+)?#\d+"  # #2, owner/repo#2
    r"|gh-\d+"
    r"|https?://[^\s/]+/[\w.-]+/[\w.-]+/(?:issues|pull)/\d+"
)
_CLOSING = re.compile(
    rf"\b({_KEYWORDS})(\s*:?\s*)({_REFERENCE})",
    re.IGNORECASE,
)
_MENTION = re.compile(r"(?<![\w`])@(?=[A-Za-z0-9])")


def neutralize(text: str) -> str:
    """`text` with closing keywords and `@` mentions made inert, otherwise as it reads."""
    text = _CLOSING.sub(_break_closing, text)
    return _MENTION.sub("@" + ZWJ, text)


def _break_closing(m: re.Match[str]) -> str:
    keyword, gap, ref = m.groups()
    return f"{keyword[0]}{ZWJ}{keyword[1:]}{gap}{ref.replace('#', '#' + ZWJ, 1)}"
