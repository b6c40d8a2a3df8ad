"""`burndown doctor`'s Linear check against the Linear stand-in: quiet when Linear is not
used; a wrong key, no mapping or no way in each named with its fix; a working setup passes."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler.cli.doctor_checks import check_linear
from tests.support.linear_standin import API_KEY, LinearStandIn
from worker.settings import Settings


@pytest.fixture(scope="module")
def linear() -> Iterator[LinearStandIn]:
    with LinearStandIn() as standin:
        standin.add_user("Burndown Bot", "bot@acme.test")
        yield standin


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", **kw)  # type: ignore[call-arg]


def test_the_linear_check(linear: LinearStandIn, tmp_path: Path) -> None:
    assert check_linear(_settings(tmp_path)).ok
    base = {"linear_api_url": linear.api_url, "linear_repos": {"ENG": "acme/widgets"}}
    no_key = check_linear(_settings(tmp_path, linear_poll=True))
    assert not no_key.ok and "BURNDOWN_LINEAR_API_KEY" in no_key.fix
    wrong = check_linear(_settings(tmp_path, linear_api_key="lin_api_wrong", **base))
    assert not wrong.ok and "AUTHENTICATION_ERROR" in wrong.detail
    no_way = check_linear(_settings(tmp_path, linear_api_key=API_KEY, **base))
    assert not no_way.ok and "BURNDOWN_LINEAR_POLL" in no_way.fix
    unmapped = check_linear(
        _settings(tmp_path, linear_api_key=API_KEY, linear_api_url=linear.api_url, linear_poll=True)
    )
    assert not unmapped.ok and "BURNDOWN_LINEAR_REPOS" in unmapped.fix
    ok = check_linear(_settings(tmp_path, linear_api_key=API_KEY, linear_poll=True, **base))
    assert ok.ok and "Burndown Bot" in ok.detail and "ENG" in ok.detail
