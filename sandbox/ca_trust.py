"""Extra CA certificates the sandboxes trust, for companies behind a TLS-inspecting proxy.

The operator names certificate files (PEM); by default the host's locally added CAs
(`/usr/local/share/ca-certificates`, Debian's place for them). The toolchain images are built
with them in their trust store (`update-ca-certificates`), and with the variables that tools
which keep their own bundle read pointed at the system bundle (`TRUST_ENV`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sandbox.errors import ImageError

HOST_EXTRA_CA_DIR = Path("/usr/local/share/ca-certificates")
"""Where Debian keeps locally added CA certificates (each a `.crt` file, PEM)."""

SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
"""The bundle `update-ca-certificates` writes inside the image."""

TRUST_ENV: dict[str, str] = {
    "SSL_CERT_FILE": SYSTEM_BUNDLE,  # OpenSSL users: Python's ssl, curl, git
    "REQUESTS_CA_BUNDLE": SYSTEM_BUNDLE,  # requests (and so pip's vendored copy)
    "PIP_CERT": SYSTEM_BUNDLE,  # pip, which otherwise uses certifi's bundle
    "NODE_EXTRA_CA_CERTS": SYSTEM_BUNDLE,  # node and npm, which ship their own roots
    "CARGO_HTTP_CAINFO": SYSTEM_BUNDLE,  # cargo
    "GIT_SSL_CAINFO": SYSTEM_BUNDLE,
    "CURL_CA_BUNDLE": SYSTEM_BUNDLE,
}
"""Environment of every image built with extra CAs: each tool with a bundle of its own is told
to read the system's, which holds the extra CAs."""

_BEGIN = b"-----BEGIN CERTIFICATE-----"


@dataclass(frozen=True)
class CaCertificate:
    """One extra CA: the file name it gets in the image, and its PEM bytes."""

    name: str
    pem: bytes


def host_extra_cas(folder: Path = HOST_EXTRA_CA_DIR) -> list[Path]:
    """The `.crt` files under `folder` (recursively, sorted); none when it does not exist."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*.crt") if p.is_file())


def read_cas(paths: Sequence[Path]) -> list[CaCertificate]:
    """The certificates in `paths`, each checked to hold PEM certificate text; `ImageError`
    names a file that is missing or is not one."""
    found: list[CaCertificate] = []
    seen: set[str] = set()
    for path in paths:
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise ImageError(f"cannot read the CA certificate {path}: {exc}") from exc
        if _BEGIN not in pem:
            raise ImageError(f"{path} holds no PEM certificate ({_BEGIN.decode()} ...)")
        stem = path.stem if path.stem not in seen else f"{path.stem}-{len(seen)}"
        seen.add(stem)
        found.append(CaCertificate(f"{stem}.crt", pem.strip() + b"\n"))
    return found


def cas_digest(cas: Sequence[CaCertificate]) -> str:
    """A digest of the certificates' names and contents: part of an image's content hash."""
    digest = hashlib.sha256()
    for ca in cas:
        digest.update(ca.name.encode() + b"\0" + ca.pem + b"\0")
    return digest.hexdigest()[:16]
