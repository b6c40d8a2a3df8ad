"""Everything Burndown posts or pushes is checked: agent words are neutralized, and a secret
(a well-known key's shape, or a value Burndown holds) stops the text, saying so unquoted."""

import re
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from tests.support.gitrepo import git
from tests.worker.test_pipeline import REPO, Scene, World, claude_lines, make_world
from worker.secrets_scan import SecretScanner
from worker.store.models import OutcomeKind, Ticket

HELD = "held-token-value-0123456789"
SCANNER = SecretScanner({"BURNDOWN_GITHUB_TOKEN": HELD, "BURNDOWN_OPENAI_API_KEY": "oai-key-98765"})
CLOSES = re.compile(
    r"\b(close[sd]?|fix(e[sd])?|resolve[sd]?)\s*:?\s*([\w.-]+/[\w.-]+)?#(\d+)", re.I
)
MENTION = re.compile(r"(?<![\w`])@[A-Za-z0-9]")


@pytest.fixture
def world(tmp_path: Path, sqlite_engine: Engine) -> World:
    return make_world(tmp_path, sqlite_engine)


def _all_posted(world: World) -> str:
    return "\n".join([*(c for _, _, c in world.gh.comments), *(b for _, _, b in world.gh.pulls)])


def test_the_agents_summary_closes_nothing_and_mentions_no_one(world: World) -> None:
    summary = "Done. Closes #2, fixes other/repo#5 and resolves #7. cc @boss @org/team"
    outcome, _ = world.run(Scene(lines=claude_lines(text=summary)), world.ticket(), secrets=SCANNER)
    assert outcome is not None and outcome.kind == OutcomeKind.PR_OPENED
    ((_, _, body),) = world.gh.pulls
    assert [m.group(4) for m in CLOSES.finditer(body)] == ["3"]  # Burndown's own line only
    assert MENTION.search(body) is None
    assert "Done." in body and "boss" in body


def test_an_issue_title_with_closing_keywords_closes_nothing_through_the_commit(
    world: World,
) -> None:
    tid = world.ticket()
    with Session(world.engine) as s:
        t = s.get(Ticket, tid)
        assert t is not None
        t.title = "Fixes #9 for @carol"
        s.add(t)
        s.commit()
    outcome, _ = world.run(Scene(), tid, secrets=SCANNER)
    assert outcome is not None and outcome.kind == OutcomeKind.PR_OPENED
    message = git("log", "-1", "--format=%B", "burndown/issue-3", cwd=world.remote)
    assert [m.group(4) for m in CLOSES.finditer(message)] == ["3"]
    assert MENTION.search(message) is None


@pytest.mark.parametrize(
    ("summary", "finding"),
    [
        (f"I used {HELD} to test", "holds the value of BURNDOWN_GITHUB_TOKEN"),
        ("key: ghp_" + "Ab12" * 9, "looks like a GitHub token"),
    ],
)
def test_a_secret_in_the_summary_stops_the_push_and_is_never_quoted(
    world: World, summary: str, finding: str
) -> None:
    outcome, _ = world.run(Scene(lines=claude_lines(text=summary)), world.ticket(), secrets=SCANNER)
    assert outcome is not None and outcome.kind == OutcomeKind.REFUSED
    assert finding in outcome.detail
    assert world.gh.pulls == []
    assert git("branch", "--list", "burndown/*", cwd=world.remote) == ""
    posted = _all_posted(world)
    assert finding in posted
    assert HELD not in posted and "Ab12Ab12" not in posted


def test_a_held_value_in_the_change_is_refused_by_the_policy(world: World) -> None:
    scene = Scene(edits={"hello.py": "KEY = 'oai-key-98765'\nprint('hello')\n"})
    outcome, _ = world.run(scene, world.ticket(), secrets=SCANNER)
    assert outcome is not None and outcome.kind == OutcomeKind.REFUSED
    assert "secret in added line at `hello.py:1`" in outcome.detail
    assert world.gh.pulls == []
    assert git("branch", "--list", "burndown/*", cwd=world.remote) == ""
    posted = _all_posted(world)
    assert "holds the value of BURNDOWN_OPENAI_API_KEY" in posted
    assert "oai-key-98765" not in posted and REPO in {r for r, _, _ in world.gh.comments}
