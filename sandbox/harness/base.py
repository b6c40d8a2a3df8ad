"""The Harness protocol: how to start a coding agent in a sandbox and read what it says."""

from collections.abc import Callable
from typing import Protocol

from pydantic import BaseModel, Field, SecretStr

from sandbox.errors import HarnessError
from sandbox.harness.events import HarnessEvent


class ModelAccess(BaseModel):
    """Where the harness reaches its model, and the one key it may hold."""

    base_url: str | None = None
    api_key: SecretStr | None = None


class HarnessOptions(BaseModel):
    """What a run asks of the harness."""

    model: str | None = None
    max_turns: int | None = None
    extra_system_prompt: str | None = None
    extra_env: dict[str, str] = Field(default_factory=dict)


class Harness(Protocol):
    """A coding-agent CLI run headless inside the sandbox."""

    name: str
    default_base_url: str
    """The model endpoint the CLI uses when `ModelAccess.base_url` is not set."""

    def command(self, prompt: str, options: HarnessOptions) -> list[str]:
        """The argv that runs the agent on `prompt` in the sandbox's working directory."""
        ...

    def environment(self, access: ModelAccess, home: str) -> dict[str, str]:
        """The sandbox environment the harness needs: model endpoint and key, nothing else."""
        ...

    def parse_line(self, line: str) -> list[HarnessEvent]:
        """Unified events for one line of the harness's native output, raw kept."""
        ...


HarnessFactory = Callable[[], Harness]
_REGISTRY: dict[str, HarnessFactory] = {}


def register(name: str, factory: HarnessFactory) -> None:
    _REGISTRY[name] = factory


def harness_names() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


def get_harness(name: str) -> Harness:
    """The harness registered as `name`; `HarnessError` naming the valid choices otherwise."""
    _load_builtins()
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise HarnessError(
            f"unknown harness {name!r}; valid: {', '.join(sorted(_REGISTRY))}"
        ) from None


def _load_builtins() -> None:
    if not _REGISTRY:
        from sandbox.harness.claude_code import ClaudeCode

        register(ClaudeCode.name, ClaudeCode)
