"""The diff policy: what a change may not do before anything is pushed.

Rules: limits on files and lines changed, forbidden paths, no large binaries, no nested
repositories, and no secrets anywhere in what the change adds: every new or changed blob is
scanned whole (text or binary, symlink targets too), and so is every file name. A violation
names its rule and where (never the secret), so the issue comment can say so.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from pydantic import BaseModel, ConfigDict, Field

from worker.git import BLOB_MODES, GITLINK_MODE, Checkout, FileStat
from worker.secrets_scan import PATTERNS, SecretScanner

DEFAULT_FORBIDDEN = (
    ".github/workflows/**",
    "**/.env",
    "**/.env.*",
    "**/*.pem",
    "**/*.key",
    "**/*.p12",
    "**/*.pfx",
    "**/id_rsa*",
    "**/id_ed25519*",
    "**/.npmrc",
    "**/.pypirc",
    "**/credentials*.json",
)

SECRET_PATTERNS = PATTERNS


MAX_SCAN_BYTES = 32 * 1024 * 1024
"""Larger new files are refused rather than read into memory to be scanned."""


class DiffPolicy(BaseModel):
    """The limits a change must keep; operators set them, repositories may tighten them."""

    model_config = ConfigDict(extra="forbid")

    max_files: int = Field(100, gt=0)
    max_lines: int = Field(5000, gt=0)
    max_binary_bytes: int = Field(1024 * 1024, ge=0)
    forbidden_paths: list[str] = Field(default_factory=lambda: list(DEFAULT_FORBIDDEN))


@dataclass(frozen=True)
class Violation:
    """One broken rule, and where."""

    rule: str
    where: str
    detail: str

    def __str__(self) -> str:
        # A file name that is not UTF-8 reaches us with surrogate escapes: show it printable.
        where = self.where.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        return f"{self.rule} at `{where}`: {self.detail}"


def _matches(path: str, pattern: str) -> bool:
    if fnmatchcase(path, pattern):
        return True
    # `**/x` also matches `x` at the root; `dir/**` matches everything below dir.
    if pattern.startswith("**/") and fnmatchcase(path, pattern[3:]):
        return True
    return pattern.endswith("/**") and path.startswith(pattern[:-2])


def check_change(
    co: Checkout, base: str, sha: str, policy: DiffPolicy, scanner: SecretScanner
) -> list[Violation]:
    """Every violation of `policy` by commit `sha` against `base`, read from the host's own
    object store; empty when the change may be pushed."""
    stats = co.changes(base, sha)
    wanted = [
        blob
        for s in stats
        for blob, mode in ((s.old_blob, s.old_mode), (s.new_blob, s.new_mode))
        if mode in BLOB_MODES
    ]
    sizes = co.blob_sizes(wanted)
    blobs = co.blobs([b for b in wanted if sizes[b] <= MAX_SCAN_BYTES])
    return check_diff(stats, blobs, policy, scanner)


def check_diff(
    stats: list[FileStat],
    blobs: Mapping[str, bytes],
    policy: DiffPolicy,
    scanner: SecretScanner | None = None,
) -> list[Violation]:
    """Every violation of `policy` by a change (its files and their blobs)."""
    scanner = scanner or SecretScanner()
    found = _limits(stats, policy)
    for s in stats:
        hit = next((p for p in policy.forbidden_paths if _matches(s.path, p)), None)
        if hit:
            found.append(Violation("forbidden path", s.path, f"matches `{hit}`"))
        if s.new_mode == GITLINK_MODE:
            found.append(
                Violation("nested repository", s.path, "submodules and embedded repositories")
            )
        if s.added is None and s.size is not None and s.size > policy.max_binary_bytes:
            found.append(
                Violation(
                    "large binary",
                    s.path,
                    f"{s.size} bytes; the limit is {policy.max_binary_bytes}",
                )
            )
        found += _secrets(s, blobs, scanner)
    return found


def _limits(stats: list[FileStat], policy: DiffPolicy) -> list[Violation]:
    found: list[Violation] = []
    if len(stats) > policy.max_files:
        found.append(
            Violation("too many files", f"{len(stats)} files", f"the limit is {policy.max_files}")
        )
    lines = sum((s.added or 0) + (s.removed or 0) for s in stats)
    if lines > policy.max_lines:
        found.append(
            Violation(
                "too many lines", f"{lines} lines changed", f"the limit is {policy.max_lines}"
            )
        )
    return found


def _secrets(s: FileStat, blobs: Mapping[str, bytes], scanner: SecretScanner) -> list[Violation]:
    name = scanner.first(s.path)
    if name is not None:  # the name itself is not repeated: it holds the secret
        return [Violation("secret in a file name", "a changed file", name.what)]
    if s.new_mode not in BLOB_MODES:
        return []
    if s.new_blob not in blobs:
        return [Violation("too large to scan", s.path, f"over {MAX_SCAN_BYTES} bytes")]
    new = _text(blobs.get(s.new_blob, b""))
    old = _text(blobs.get(s.old_blob, b"")) if s.old_mode in BLOB_MODES else ""
    return [
        Violation("secret in added line", f"{s.path}:{f.line}", f.what)
        for f in scanner.new_in(old, new)
    ]


def _text(blob: bytes) -> str:
    # Latin-1 maps every byte to one character: binary content is scanned too, and a secret's
    # ASCII is found wherever it sits.
    return blob.decode("latin-1")
