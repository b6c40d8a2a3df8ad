"""A real LiteLLM proxy (from PyPI) for the gateway tests, in front of the scripted model.

Installed once into a cached virtualenv (`~/.cache/burndown/litellm-venv-<version>`, pinned,
with timeouts, under a file lock so parallel test processes install it once); started per test
on a free loopback-reachable port with a master key and a config routing the model names the
harnesses use to the scripted model server. Its key management needs its database (Prisma),
which cannot run here: those endpoints are tested against `tests.support.litellm_keys`.
"""

import fcntl
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

LITELLM_VERSION = "1.108.7"
"""The newest that installs here: 1.110.2 pins a `litellm-proxy` its index does not serve."""
INSTALL_TIMEOUT = 900.0
START_TIMEOUT = 90.0


def venv_dir() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return root / "burndown" / f"litellm-venv-{LITELLM_VERSION}"


def installed_litellm() -> Path:
    """The `litellm` executable of the cached venv, installing it first when missing."""
    venv = venv_dir()
    exe = venv / "bin" / "litellm"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / "litellm-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / ".complete").exists() and exe.exists():
            return exe
        subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(venv)], check=True, timeout=120
        )
        subprocess.run(
            [
                str(venv / "bin" / "pip"),
                "install",
                "--quiet",
                "--disable-pip-version-check",
                f"litellm[proxy]=={LITELLM_VERSION}",
            ],
            check=True,
            timeout=INSTALL_TIMEOUT,
        )
        (venv / ".complete").write_text(LITELLM_VERSION)
    return exe


def proxy_config(model_base_url: str, models: dict[str, str]) -> dict[str, object]:
    """Routes `models` (name -> `provider/model`) to the scripted model server; OpenAI-style
    providers get its `/v1`."""
    entries = []
    for name, target in models.items():
        base = model_base_url if target.startswith("anthropic/") else model_base_url + "/v1"
        entries.append(
            {
                "model_name": name,
                "litellm_params": {"model": target, "api_base": base, "api_key": "fake"},
            }
        )
    return {"model_list": entries, "litellm_settings": {"drop_params": True}}


@dataclass(frozen=True)
class LiteLLMProxy:
    base_url: str
    master_key: str
    log: Path


@contextmanager
def litellm_proxy(
    model_base_url: str, models: dict[str, str], *, host: str, port: int, work: Path
) -> Iterator[LiteLLMProxy]:
    """The real proxy on `host:port`, stopped after the block."""
    exe = installed_litellm()
    config = work / "litellm.yaml"
    config.write_text(yaml.safe_dump(proxy_config(model_base_url, models)))
    master = "sk-" + secrets.token_hex(32)
    env = {**os.environ, "LITELLM_MASTER_KEY": master, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.pop("DATABASE_URL", None)
    log = work / "litellm.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(exe), "--config", str(config), "--host", host, "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://{host}:{port}"
            _wait_ready(url, master, proc, log)
            yield LiteLLMProxy(url, master, log)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _wait_ready(url: str, master: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"litellm exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            r = httpx.get(
                f"{url}/v1/models", headers={"Authorization": f"Bearer {master}"}, timeout=2
            )
            if r.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"litellm did not answer in {START_TIMEOUT}s:\n{log.read_text()[-3000:]}")
