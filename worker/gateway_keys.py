"""One gateway key per run: created through the LiteLLM proxy's key API with the run's budget
and an expiry, given to that run's sandboxes only, its spend read back and the key deleted
when the run ends, however it ends. A key leaked from a sandbox is worth one run's budget for
one run's time.

`GatewayKeys` is the protocol; `LiteLLMKeys` speaks LiteLLM's documented endpoints
(`POST /key/generate`, `GET /key/info`, `POST /key/delete`, master key as bearer token);
`FakeGatewayKeys` is the scriptable fake for unit tests.
"""

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from pydantic import SecretStr

from sandbox.errors import BurndownError
from worker.logs import get_logger

log = get_logger(__name__)


class GatewayKeyError(BurndownError):
    """The gateway refused or failed a key operation."""


@dataclass(frozen=True)
class RunKey:
    """A key the gateway made for one run."""

    key: SecretStr
    alias: str
    max_budget_usd: float | None
    expires: str | None


class GatewayKeys(Protocol):
    """A gateway's key management."""

    def create(self, alias: str, *, max_budget_usd: float | None, seconds: int) -> RunKey:
        """A new key valid for `seconds`, spending at most `max_budget_usd` (None: no cap)."""
        ...

    def spend(self, key: RunKey) -> float | None:
        """What the gateway recorded the key has spent; None when it does not say."""
        ...

    def delete(self, key: RunKey) -> None:
        """Delete the key; deleting a key already gone is not an error."""
        ...


class LiteLLMKeys:
    """`GatewayKeys` over a LiteLLM proxy's key endpoints (they need the proxy's database)."""

    def __init__(self, base_url: str, master_key: SecretStr, *, timeout: float = 15.0) -> None:
        self._base = base_url.rstrip("/").removesuffix("/v1")
        self._master, self._timeout = master_key, timeout

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._master.get_secret_value()}"}
        try:
            with httpx.Client(base_url=self._base, headers=headers, timeout=self._timeout) as c:
                response = c.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise GatewayKeyError(f"the gateway's {path} failed: {exc}") from exc
        if response.status_code >= 400:
            raise GatewayKeyError(
                f"the gateway's {path} answered {response.status_code}: {response.text[:300]}"
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise GatewayKeyError(f"the gateway's {path} answered no JSON") from exc
        if not isinstance(body, dict):
            raise GatewayKeyError(f"the gateway's {path} answered {type(body).__name__}")
        return body

    def create(self, alias: str, *, max_budget_usd: float | None, seconds: int) -> RunKey:
        body = self._call(
            "POST",
            "/key/generate",
            json={
                "key_alias": alias,
                "max_budget": max_budget_usd,
                "duration": f"{max(1, seconds)}s",
                "metadata": {"burndown": alias},
            },
        )
        key = body.get("key")
        if not isinstance(key, str) or not key:
            raise GatewayKeyError("the gateway's /key/generate answered no key")
        return RunKey(SecretStr(key), alias, max_budget_usd, body.get("expires"))

    def spend(self, key: RunKey) -> float | None:
        info = self._call("GET", "/key/info", params={"key": key.key.get_secret_value()})
        spend = (info.get("info") or {}).get("spend")
        return float(spend) if isinstance(spend, int | float) else None

    def delete(self, key: RunKey) -> None:
        self._call("POST", "/key/delete", json={"keys": [key.key.get_secret_value()]})


@dataclass
class FakeGatewayKeys:
    """Keys in a dict; `spent` scripts what the gateway reports per alias."""

    live: dict[str, RunKey] = field(default_factory=dict)
    spent: dict[str, float] = field(default_factory=dict)
    created: list[RunKey] = field(default_factory=list)
    fail_create: bool = False

    def create(self, alias: str, *, max_budget_usd: float | None, seconds: int) -> RunKey:
        if self.fail_create:
            raise GatewayKeyError("the fake gateway refuses keys")
        key = RunKey(SecretStr("sk-" + secrets.token_hex(12)), alias, max_budget_usd, None)
        self.live[key.key.get_secret_value()] = key
        self.created.append(key)
        return key

    def spend(self, key: RunKey) -> float | None:
        return self.spent.get(key.alias)

    def delete(self, key: RunKey) -> None:
        self.live.pop(key.key.get_secret_value(), None)


@dataclass
class KeyUse:
    """The key a run holds, and (once it ended) the spend the gateway recorded for it."""

    key: RunKey
    gateway_spend_usd: float | None = None


@contextmanager
def run_key(
    keys: GatewayKeys, alias: str, *, max_budget_usd: float | None, seconds: int
) -> Iterator[KeyUse]:
    """A key for one run, deleted when the block ends (however it ends); the gateway's spend
    for it is read just before. A failure to read or delete is logged, never raised: the
    key expires on its own anyway."""
    use = KeyUse(keys.create(alias, max_budget_usd=max_budget_usd, seconds=seconds))
    try:
        yield use
    finally:
        try:
            use.gateway_spend_usd = keys.spend(use.key)
        except GatewayKeyError as exc:
            log.warning("could not read the run key's spend", alias=alias, error=str(exc))
        try:
            keys.delete(use.key)
        except GatewayKeyError as exc:
            log.error("could not delete the run key; it expires", alias=alias, error=str(exc))
