"""`.burndown.yml`: defaults, shorthands, and errors that say what is wrong."""

import pytest

from worker.errors import ConfigError
from worker.repo_config import parse_repo_config


def test_absent_or_empty_means_defaults() -> None:
    for text in (None, "", "  \n", "# only a comment\n"):
        cfg = parse_repo_config(text)
        assert cfg.harness is None and cfg.test == [] and cfg.sandbox.allow_hosts == []


def test_a_full_file() -> None:
    cfg = parse_repo_config(
        "harness: codex\nmodel: gpt-5.5\nmax_budget_usd: 2.5\nsetup: pip install -e .\n"
        "test: [pytest -q]\nsandbox:\n  memory: 2g\n  allow_hosts: [pypi.org]\n"
    )
    assert (cfg.harness, cfg.model, cfg.max_budget_usd) == ("codex", "gpt-5.5", 2.5)
    assert cfg.setup == ["pip install -e ."] and cfg.test == ["pytest -q"]
    assert cfg.sandbox.memory == "2g" and cfg.sandbox.allow_hosts == ["pypi.org"]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("harness: [a", "not valid YAML"),
        ("- a\n- b\n", "must be a mapping"),
        ("harnes: codex\n", "harnes"),
        ("max_turns: -3\n", "max_turns"),
        ("sandbox:\n  cpus: lots\n", "sandbox.cpus"),
    ],
)
def test_errors_name_the_problem(text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_repo_config(text)


@pytest.mark.parametrize(
    "text",
    ["sandbox:\n  memory: 0\n", "sandbox:\n  tmpfs_size: 0m\n", "sandbox:\n  memory: 0.0001k\n"],
)
def test_sizes_must_be_positive_as_docker_reads_zero_as_no_limit(text: str) -> None:
    with pytest.raises(ConfigError, match=r"sandbox\.(memory|tmpfs_size): .*positive size"):
        parse_repo_config(text)


@pytest.mark.parametrize(
    "text", ["sandbox:\n  cpus: 0\n", "sandbox:\n  pids: 0\n", "max_budget_usd: 0\n"]
)
def test_other_limits_must_be_positive_too(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_repo_config(text)
