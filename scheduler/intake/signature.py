"""GitHub's webhook signature (`X-Hub-Signature-256`) and the digest that dedupes bodies."""

import hashlib
import hmac


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """True when `header` is `sha256=` + the HMAC-SHA256 of `body`, compared in constant time.
    A missing, non-ASCII or malformed header is simply not a match."""
    if not header or not header.isascii() or not header.startswith("sha256="):
        return False
    given = header.removeprefix("sha256=").encode("ascii")
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode("ascii")
    return hmac.compare_digest(expected, given)


def sign(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub would send for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def body_digest(body: bytes) -> str:
    """The SHA-256 of a body: the same signed body under another delivery id is a replay."""
    return hashlib.sha256(body).hexdigest()
