"""The Harness protocol: how to start a coding agent in a sandbox and read what it says.

Starting is one call, `plan`, that gives the argv and the environment together: no adapter
depends on one method having run before another."""

from typing import Literal, Protocol

from pydantic import BaseModel, Field, SecretStr

from sandbox.errors import HarnessError
from sandbox.harness.events import HarnessEvent

Provider = Literal["anthropic", "openai"]


class ModelAccess(BaseModel):
    """Where the harness reaches its model, and the one key it may hold. `gateway` marks a
    LiteLLM-compatible proxy (it takes the key as a bearer token and speaks both APIs)."""

    base_url: str | None = None
    api_key: SecretStr | None = None
    gateway: bool = False


class HarnessOptions(BaseModel):
    """What a run asks of the harness. A harness honours each option it lists in
    `supported_options` and refuses (`check_options`) any other that is set."""

    model: str | None = None
    max_turns: int | None = Field(None, gt=0)
    max_budget_usd: float | None = Field(None, gt=0)
    time_limit_seconds: float | None = Field(None, gt=0)
    extra_system_prompt: str | None = None
    allowed_tools: list[str] = Field(default_factory=list)
    disallowed_tools: list[str] = Field(default_factory=list)
    extra_env: dict[str, str] = Field(default_factory=dict)


class HarnessInvocation(BaseModel):
    """How to start a harness: the argv to run in the sandbox's working directory and the
    environment it needs (its home, model endpoint and key; nothing else)."""

    argv: list[str]
    env: dict[str, str] = Field(default_factory=dict)


#: Options every harness honours because the sandbox does the work: the time limit is the
#: container's wall clock, extra environment is the container's environment.
SANDBOX_OPTIONS = frozenset({"time_limit_seconds", "extra_env"})


class Harness(Protocol):
    """A coding-agent CLI run headless inside the sandbox. One instance per run: adapters may
    keep state between lines (e.g. which tool calls are still open)."""

    name: str
    default_base_url: str
    """The model endpoint the CLI uses when `ModelAccess.base_url` is not set."""
    provider: Provider
    """Whose API the harness speaks by default (decides which direct key it gets)."""
    supported_options: frozenset[str]
    """The `HarnessOptions` fields this harness makes real (besides `SANDBOX_OPTIONS`)."""

    def plan(
        self, prompt: str, options: HarnessOptions, access: ModelAccess, home: str
    ) -> HarnessInvocation:
        """The argv that runs the agent on `prompt`, and its environment (with `home` as its
        home); `HarnessError` when the options cannot start it (e.g. no model)."""
        ...

    def parse_line(self, line: str) -> list[HarnessEvent]:
        """Unified events for one line of the harness's native output, raw kept."""
        ...

    def finish(self, exit_code: int | None, timed_out: bool) -> list[HarnessEvent]:
        """Events owed once the process has ended (e.g. a result when the native stream gave
        none because the harness crashed or was stopped at the time limit)."""
        ...


def check_options(harness: Harness, options: HarnessOptions) -> None:
    """`HarnessError` naming the harness and the first option it cannot honour."""
    supported = harness.supported_options | SANDBOX_OPTIONS
    for name, value in options:
        if name == "model" or name in supported:
            continue
        if value not in (None, [], {}):
            raise HarnessError(
                f"harness {harness.name!r} does not support the option {name!r} "
                f"(it supports: {', '.join(sorted(supported | {'model'}))})"
            )


def v1_url(url: str) -> str:
    """An OpenAI-style base URL: `http://host:4000` and `http://host:4000/v1/` both give
    `http://host:4000/v1`."""
    url = url.rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"
