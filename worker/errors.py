"""Errors of the data plane, all under the one root in `sandbox.errors`."""

from sandbox.errors import BurndownError


class GitError(BurndownError):
    """A git command failed or timed out."""


class GitHubError(BurndownError):
    """The GitHub API failed, refused, or answered something we cannot use."""


class StoreError(BurndownError):
    """The store could not be read or written."""


class DuplicateError(StoreError):
    """A write hit a unique constraint: the row (a delivery, a ticket, a pull request) exists."""


class ConfigError(BurndownError):
    """Settings or per-repository configuration are missing or invalid."""


class LinearError(BurndownError):
    """Linear's API failed, refused, or answered something we cannot use."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class LinearNotFound(LinearError):
    """Linear has no such entity (an issue, a comment, a user)."""
