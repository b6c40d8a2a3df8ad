"""The one exception root of Burndown, and the sandbox's own errors.

`sandbox` imports nothing else of ours, so the root lives here; `worker` and `scheduler` derive
their errors from it. Adapters translate foreign errors into these (`raise X(...) from exc`).
"""


class BurndownError(Exception):
    """Root of every error Burndown raises on purpose."""


class SandboxError(BurndownError):
    """The container runtime failed or refused: Docker down, image missing, limit hit."""


class SandboxUnavailable(SandboxError):
    """The container runtime could not be reached or failed on its side (a 5xx, a timeout, a
    refused connection): the same request may succeed later."""


class ImageError(SandboxError):
    """The sandbox or control-plane image could not be built or inspected."""


class HarnessError(BurndownError):
    """A harness could not be started, was misconfigured, or its output could not be read."""
