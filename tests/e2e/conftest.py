"""End-to-end fixtures: the stand-in GitHub, the scripted model, real Redis and PostgreSQL,
and the sandbox image, all on this machine."""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import require_env
from tests.support.github_standin import GitHubStandIn
from tests.support.model_server import ScriptedModel, ToolCall, Turn
from tests.support.processes import bridge_gateway, child_env

REPO = "acme/widgets"
SECRET = "e2e-webhook-secret"
TITLE = "Fix the typo in the README"
README = "# Widgets\n\nTeh widgets.\n"
FIXED = "# Widgets\n\nThe widgets.\n"
CHECK = 'grep -q "The widgets" README.md || { echo "not ok 1 - the README typo"; exit 1; }\n'


OPERATOR_TOKEN = "operator-token-for-e2e"
"""Opens the dashboard and the JSON API of the processes these tests start."""


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    with GitHubStandIn() as gh:
        yield gh


@pytest.fixture
def model() -> Iterator[ScriptedModel]:
    """The scripted model, listening on the Docker bridge gateway so sandboxes reach it."""
    with ScriptedModel(host=bridge_gateway()) as m:
        yield m


@pytest.fixture
def redis_url() -> str:
    return require_env("BURNDOWN_TEST_REDIS_URL")


@dataclass
class World:
    """A repository with a labelled issue on the stand-in, a scripted fix, and Burndown's env."""

    github: GitHubStandIn
    model: ScriptedModel
    bot_token: str
    number: int
    env: dict[str, str]


def fix_typo_script() -> list[Turn]:
    return [
        Turn(text="I'll fix it.", tool_calls=[ToolCall(shell="sed -i 's/Teh/The/' README.md")]),
        Turn(text="Fixed the typo in README.md."),
    ]


@pytest.fixture
def world(github: GitHubStandIn, model: ScriptedModel, sandbox_image: str, tmp_path: Path) -> World:
    bot = github.add_user("burndown-bot")
    github.add_user("maria")
    github.add_repo(
        REPO,
        {
            "README.md": README,
            "src/app.py": "x = 1\n",
            ".burndown.yml": "test: sh check.sh\n",
            "check.sh": CHECK,
        },
    )
    github.set_permission(REPO, "maria", "maintain")
    github.set_permission(REPO, "burndown-bot", "write")
    number = github.create_issue(REPO, TITLE, "It says Teh.", "maria")
    github.add_label(REPO, number, "burndown")
    model.set_script(fix_typo_script())
    env = child_env(
        {
            "BURNDOWN_DATA_DIR": str(tmp_path / "data"),
            "BURNDOWN_QUEUE": f"e2e-{uuid.uuid4().hex[:8]}",
            "BURNDOWN_GITHUB_API_URL": github.api_url,
            "BURNDOWN_GITHUB_TOKEN": bot,
            "BURNDOWN_GITHUB_WEBHOOK_SECRET": SECRET,
            "BURNDOWN_OPERATOR_TOKEN": OPERATOR_TOKEN,
            "BURNDOWN_ANTHROPIC_BASE_URL": model.base_url,
            "BURNDOWN_ANTHROPIC_API_KEY": "sk-ant-test",
            "BURNDOWN_SANDBOX_IMAGE": sandbox_image,
        }
    )
    return World(github=github, model=model, bot_token=bot, number=number, env=env)
