"""Every setting is documented in the README's settings table (names only; one row may name a
family, as `BURNDOWN_ANTHROPIC_API_KEY` / `_BASE_URL`)."""

import re

from tests.conftest import REPO_ROOT
from worker.settings import Settings


def test_every_setting_has_a_row_in_the_readme() -> None:
    text = (REPO_ROOT / "README.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `BURNDOWN_")]
    named: set[str] = set()
    for row in rows:
        first = row.split("|")[1]
        names = re.findall(r"`(BURNDOWN_[A-Z0-9_]+|_[A-Z0-9_]+)`", first)
        base = ""
        for name in names:
            if name.startswith("BURNDOWN_"):
                base = name
                named.add(name)
            else:  # `_BASE_URL` after `BURNDOWN_ANTHROPIC_API_KEY`: same prefix, other ending
                stem = base.rsplit("_", 2 if base.endswith(("_API_KEY", "_API_BASE")) else 1)[0]
                named.add(stem + name)
    wanted = {f"BURNDOWN_{name.upper()}" for name in Settings.model_fields}
    assert wanted - named == set()
