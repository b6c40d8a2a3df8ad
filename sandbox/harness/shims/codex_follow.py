"""Runs `codex exec --json` and adds, live, the token usage Codex records in its rollout files.

`codex exec --json` reports usage only in `turn.completed`, at the end of its one turn, so a
model that never stops never reports any. Codex's rollout (`$CODEX_HOME/sessions/YYYY/MM/DD/
rollout-*.jsonl`, one file a thread) records the thread's running totals after every model
response (`token_usage_record.thread_token_usage`, then `event_msg` `token_count`
`info.total_token_usage`). This follower passes Codex's stdout through line by line, watches
the rollout files, and whenever their totals grow prints one more line:
  {"type": "burndown.usage", "usage": <the sum over the rollout files of each one's latest
   totals: input_tokens (cached included), cached_input_tokens, output_tokens, ...>}
Usage: python3 -c <this> SESSIONS_DIR -- codex ARGS...  (stdlib only: the image's python3).
"""

import json
import os
import subprocess
import sys
import threading
import time
from typing import IO, Any

POLL_SECONDS = 0.05
_FIELDS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens")
_lock = threading.Lock()


def emit_raw(line: bytes) -> None:
    with _lock:
        sys.stdout.buffer.write(line if line.endswith(b"\n") else line + b"\n")
        sys.stdout.flush()


def totals_of(record: dict[str, Any]) -> dict[str, Any] | None:
    """The thread's running totals a rollout line carries, if it carries them."""
    payload = record.get("payload")
    if not isinstance(payload, dict):
        return None
    if record.get("type") == "token_usage_record":
        totals = payload.get("thread_token_usage")
    elif record.get("type") == "event_msg" and payload.get("type") == "token_count":
        totals = (payload.get("info") or {}).get("total_token_usage")
    else:
        return None
    return totals if isinstance(totals, dict) else None


class Rollouts:
    """Every rollout file under the sessions folder, read as it grows (whole lines only)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.offsets: dict[str, int] = {}
        self.totals: dict[str, dict[str, int]] = {}
        self.sent: dict[str, int] | None = None

    def poll(self) -> None:
        for folder, _, names in os.walk(self.root):
            for name in names:
                if name.startswith("rollout-") and name.endswith(".jsonl"):
                    self._read(os.path.join(folder, name))
        usage = {f: sum(t.get(f, 0) for t in self.totals.values()) for f in _FIELDS}
        if self.totals and usage != self.sent:
            self.sent = usage
            emit_raw(json.dumps({"type": "burndown.usage", "usage": usage}).encode())

    def _read(self, path: str) -> None:
        try:
            with open(path, "rb") as f:
                f.seek(self.offsets.get(path, 0))
                chunk = f.read()
        except OSError:
            return
        end = chunk.rfind(b"\n") + 1  # a line being written is read next time, whole
        self.offsets[path] = self.offsets.get(path, 0) + end
        for line in chunk[:end].splitlines():
            try:
                totals = totals_of(json.loads(line))
            except ValueError:
                continue
            if totals is not None:
                old = self.totals.get(path, {})
                self.totals[path] = {
                    f: max(int(totals.get(f) or 0), old.get(f, 0)) for f in _FIELDS
                }


def pass_through(stream: IO[bytes]) -> None:
    for line in stream:
        emit_raw(line)


def main() -> int:
    root, argv = sys.argv[1], sys.argv[sys.argv.index("--") + 1 :]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    reader = threading.Thread(target=pass_through, args=(proc.stdout,), daemon=True)
    reader.start()
    rollouts = Rollouts(root)
    while proc.poll() is None:
        rollouts.poll()
        time.sleep(POLL_SECONDS)
    reader.join()  # Codex's own lines first: its `turn.completed` carries the final totals
    rollouts.poll()
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
