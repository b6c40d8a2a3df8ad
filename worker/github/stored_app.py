"""The GitHub App created through the dashboard's manifest flow, kept in the data folder."""

import json
from pathlib import Path

from pydantic import BaseModel, SecretStr

STORED = "github-app.json"


class StoredApp(BaseModel):
    """What GitHub returned for the App it created (the key and secrets stay secret)."""

    id: int
    slug: str
    client_id: str
    pem: SecretStr
    webhook_secret: SecretStr | None = None


def store_app(data_dir: Path, app: StoredApp) -> Path:
    """Keep the App's credentials in the data folder, readable by this user only."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / STORED
    data = app.model_dump(mode="json")
    data["pem"] = app.pem.get_secret_value()
    if app.webhook_secret is not None:
        data["webhook_secret"] = app.webhook_secret.get_secret_value()
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(json.dumps(data))
    return path


def stored_app(data_dir: Path) -> StoredApp | None:
    """The App created through the dashboard, if there is one."""
    path = data_dir / STORED
    if not path.is_file():
        return None
    return StoredApp.model_validate_json(path.read_text())
