"""Burndown run for real: its processes (`burndown`), its `sandbox run` command and what a run
leaves behind (`sandbox_cli`), and the address its containers reach this machine on
(`docker_net`)."""

from tests.support.processes.burndown import (
    burndown,
    child_env,
    free_port,
    healthy,
    process,
    wait_for,
)
from tests.support.processes.docker_net import bridge_gateway
from tests.support.processes.sandbox_cli import (
    SECRET_VARIABLES,
    Ran,
    leftovers,
    leftovers_of_deployment,
    sandbox_env,
    sandbox_run,
    secrets_of,
)

__all__ = [
    "SECRET_VARIABLES",
    "Ran",
    "bridge_gateway",
    "burndown",
    "child_env",
    "free_port",
    "healthy",
    "leftovers",
    "leftovers_of_deployment",
    "process",
    "sandbox_env",
    "sandbox_run",
    "secrets_of",
    "wait_for",
]
