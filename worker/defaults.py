"""Defaults the data plane's pieces share with the settings, each defined once here.

Sandbox limits are the sandbox's own (`sandbox.runtime.SandboxPolicy`) and diff limits the diff
policy's (`worker.diff_policy.DiffPolicy`); the settings refer to those.
"""

TRIGGER_LABEL = "burndown"
"""The label that starts a run, and that the agent's pull requests carry."""
GIT_TIMEOUT_SECONDS = 300
AUTHOR_NAME = "burndown[bot]"
AUTHOR_EMAIL = "burndown@users.noreply.github.com"
PUBLIC_URL = "http://localhost:8000"
HEARTBEAT_INTERVAL_SECONDS = 5.0
MAX_RUN_ATTEMPTS = 3
"""How often a running run proves its worker alive (and looks for a request to stop)."""
WORKSPACE_MAX_BYTES = 2 * 1024**3
"""The most a run's files may take on the host's disk before its sandbox is stopped."""
