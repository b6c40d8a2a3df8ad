"""Harnesses by name: the built-ins are import paths loaded only when asked for, a harness of
one's own is added next to them (never in place of one, whenever it is registered), an unknown
name is refused with the valid ones, and starting a harness is one call with no hidden order."""

import subprocess
import sys
from collections.abc import Iterator

import pytest

from sandbox.errors import HarnessError
from sandbox.harness.adapters.codex import Codex
from sandbox.harness.protocol import HarnessOptions, ModelAccess
from sandbox.harness.registry import (
    BUILTINS,
    get_harness,
    harness_names,
    register,
    unregister,
)
from sandbox.harness.scripted import ScriptedHarness

REAL = ["aider", "claude-code", "codex", "mini-swe-agent"]


@pytest.fixture
def mine() -> Iterator[str]:
    yield "my-codex"
    unregister("my-codex")


def test_every_built_in_resolves_to_a_fresh_instance_of_its_own_name() -> None:
    assert sorted(BUILTINS) == REAL
    for name in REAL:
        first, second = get_harness(name), get_harness(name)
        assert first.name == name and first is not second


def test_importing_the_registry_imports_no_adapter() -> None:
    code = (
        "import sys, sandbox.harness.registry as r; "
        "print(sorted(m for m in sys.modules if m.startswith('sandbox.harness.adapters.'))); "
        "r.get_harness('codex'); "
        "print(sorted(m for m in sys.modules if m.startswith('sandbox.harness.adapters.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.splitlines() == ["[]", "['sandbox.harness.adapters.codex']"]


def test_registering_first_keeps_the_built_ins(mine: str) -> None:
    register(mine, Codex)
    assert harness_names() == sorted([*REAL, mine])
    assert isinstance(get_harness(mine), Codex) and get_harness("aider").name == "aider"


def test_a_built_in_cannot_be_replaced() -> None:
    for name in ("codex", "scripted"):
        with pytest.raises(HarnessError, match=f"harness '{name}' is built in"):
            register(name, Codex)
    assert get_harness("codex").name == "codex"


def test_an_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(HarnessError, match="unknown harness 'gpt'; valid: aider, claude-code, "):
        get_harness("gpt")


def test_the_scripted_harness_resolves_but_is_no_choice_for_people() -> None:
    assert isinstance(get_harness("scripted"), ScriptedHarness)
    assert "scripted" not in harness_names()


@pytest.mark.parametrize("name", REAL)
def test_planning_is_one_call_and_depends_on_its_arguments_only(name: str) -> None:
    options = HarnessOptions(model="gpt-5.5", extra_system_prompt="Be brief.")
    if name == "mini-swe-agent":
        options = options.model_copy(update={"max_budget_usd": 2.0})
    access = ModelAccess(base_url="http://gw:4000")
    fresh = get_harness(name).plan("task", options, access, "/home/agent")
    used = get_harness(name)
    used.plan("another task", HarnessOptions(model="other"), ModelAccess(), "/elsewhere")
    assert used.plan("task", options, access, "/home/agent") == fresh
    assert fresh.env["HOME"] == "/home/agent" and "task" in " ".join(fresh.argv)
