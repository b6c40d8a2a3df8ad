"""Hidden text never reaches the agent unseen: what a reader of the issue on GitHub cannot see
is cut from the task, and what was cut is kept (escaped) for the run's events.

The rule is "what GitHub does not render to a reader is removed":

- HTML comments (`<!-- ... -->`, and an unclosed `<!--` hides everything after it);
- collapsed blocks (`<details> ... </details>`, the summary line included);
- link reference definitions that no link uses (`[//]: # (hidden)`, the markdown comment);
- links with no visible text (`[](https://...)`);
- invisible characters: zero-width (U+200B-U+200D, U+2060-U+2064, U+FEFF), direction marks
  and bidirectional controls (U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), the soft hyphen
  and the Unicode tag characters (U+E0000-U+E007F, which smuggle ASCII unseen).

Rules apply in code blocks too: a comment shown inside a fence is cut as well. Cutting too much
is safe, since everything cut is recorded; letting hidden text through is not. Zero-width joiners
inside emoji sequences go too (the emoji stay, as separate pictures).
"""

import re
from dataclasses import dataclass

INVISIBLE = re.compile(
    "[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\U000e0000-\U000e007f]+"
)
COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
DETAILS = re.compile(r"<details\b[^>]*>.*?(?:</details\s*>|\Z)", re.DOTALL | re.IGNORECASE)
EMPTY_LINK = re.compile(r"(?<!!)\[\s*\]\([^)]*\)")
REFERENCE = re.compile(r"^ {0,3}\[([^\]\n]+)\]:[ \t]*\S.*$\n?", re.MULTILINE)
MAX_KEPT = 2000
"""Characters of each removed piece kept in the event (its length is always kept)."""


@dataclass(frozen=True)
class Removed:
    """One piece cut from a text: why (its rule) and what, escaped so nothing stays invisible."""

    rule: str
    text: str
    length: int


@dataclass(frozen=True)
class Cleaned:
    """A text with its hidden parts cut, and the parts."""

    text: str
    removed: list[Removed]


def escaped(text: str) -> str:
    """`text` with every character outside printable ASCII (but newlines) as an escape."""
    out = text.encode("ascii", "backslashreplace").decode("ascii")
    return "".join(c if c.isprintable() or c == "\n" else f"\\x{ord(c):02x}" for c in out)


def clean(text: str) -> Cleaned:
    """`text` as a reader of it on GitHub sees it."""
    removed: list[Removed] = []

    def cut(rule: str, pattern: re.Pattern[str], source: str) -> str:
        def drop(m: re.Match[str]) -> str:
            piece = m.group(0)
            removed.append(Removed(rule, escaped(piece[:MAX_KEPT]), len(piece)))
            return ""

        return pattern.sub(drop, source)

    text = cut("invisible characters", INVISIBLE, text)
    text = cut("HTML comment", COMMENT, text)
    text = cut("collapsed block", DETAILS, text)
    text = cut("link without text", EMPTY_LINK, text)
    used = _used_labels(REFERENCE.sub("", text))

    def drop_unused(m: re.Match[str]) -> str:
        if _label(m.group(1)) in used:
            return m.group(0)
        piece = m.group(0)
        removed.append(Removed("unused link definition", escaped(piece[:MAX_KEPT]), len(piece)))
        return ""

    text = REFERENCE.sub(drop_unused, text)
    return Cleaned(text, removed)


def _label(raw: str) -> str:
    return " ".join(raw.split()).casefold()


def _used_labels(text: str) -> set[str]:
    """Labels some link refers to: `[text][label]`, `[label][]` and `[label]`."""
    found = {_label(m) for m in re.findall(r"\]\[([^\]\n]+)\]", text)}
    found |= {_label(m) for m in re.findall(r"\[([^\]\n]+)\]", text)}
    return found
