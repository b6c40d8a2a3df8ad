"""Harnesses by name. The built-ins are import paths (`module:Class`), imported only when asked
for, so this module imports no adapter and no adapter imports it: no cycle. `register` adds a
harness of one's own next to the built-ins, never in place of one.

`scripted` (tests and benches: a harness that plays a list of actions, no model) resolves like
any other but is not listed among the choices people make (`harness_names`)."""

from collections.abc import Callable
from importlib import import_module

from sandbox.errors import HarnessError
from sandbox.harness.protocol import Harness

HarnessFactory = Callable[[], Harness]

BUILTINS: dict[str, str] = {
    "aider": "sandbox.harness.adapters.aider:Aider",
    "claude-code": "sandbox.harness.adapters.claude_code:ClaudeCode",
    "codex": "sandbox.harness.adapters.codex:Codex",
    "mini-swe-agent": "sandbox.harness.adapters.mini_swe_agent:MiniSweAgent",
}
#: Resolvable by name, but no choice for a repository or a ticket: test doubles.
UNLISTED: dict[str, str] = {"scripted": "sandbox.harness.scripted:ScriptedHarness"}

_added: dict[str, HarnessFactory] = {}


def register(name: str, factory: HarnessFactory) -> None:
    """Make `factory` the harness `name`; `HarnessError` if `name` is a built-in's."""
    if name in BUILTINS or name in UNLISTED:
        raise HarnessError(f"harness {name!r} is built in and cannot be replaced")
    _added[name] = factory


def unregister(name: str) -> None:
    """Forget a harness `register` added (built-ins stay)."""
    _added.pop(name, None)


def harness_names() -> list[str]:
    """The harnesses a repository, a ticket or an operator may choose, sorted."""
    return sorted([*BUILTINS, *_added])


def get_harness(name: str) -> Harness:
    """A new instance of the harness `name` (one per run: adapters keep parsing state);
    `HarnessError` naming the valid choices otherwise."""
    if name in _added:
        return _added[name]()
    path = BUILTINS.get(name) or UNLISTED.get(name)
    if path is None:
        raise HarnessError(f"unknown harness {name!r}; valid: {', '.join(harness_names())}")
    factory: HarnessFactory = _load(path)
    return factory()


def _load(path: str) -> HarnessFactory:
    module, _, attr = path.partition(":")
    try:
        found: HarnessFactory = getattr(import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise HarnessError(f"harness import path {path!r} does not resolve: {exc}") from exc
    return found
