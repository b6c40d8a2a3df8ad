"""Runs `codex exec --json` and adds, live, the token usage Codex records in its rollout files.

`codex exec --json` reports usage only in `turn.completed`, at the end of its one turn, so a
model that never stops never reports any. Codex's rollout (`$CODEX_HOME/sessions/YYYY/MM/DD/
rollout-*.jsonl`, one file a thread) records each model response's usage as soon as it arrives
(`token_usage_record`: `response_id`, `usage`), then the thread's totals (`event_msg`
`token_count`, `info.total_token_usage`). This follower passes Codex's stdout through line by
line, watches the rollout files, and whenever the count grows prints one more line:
  {"type": "burndown.usage", "usage": {input_tokens (cached included), cached_input_tokens,
   output_tokens, reasoning_output_tokens}}
the sum of the usage of every response recorded (each response once, by its id, in whichever
file: a thread that copies another's history counts nothing twice), plus the totals of a file
that records no responses (an older Codex).
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


def _counts(usage: Any) -> dict[str, int] | None:
    if not isinstance(usage, dict):
        return None
    return {f: int(usage.get(f) or 0) for f in _FIELDS}


class Rollouts:
    """Every rollout file under the sessions folder, read as it grows (whole lines only)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.offsets: dict[str, int] = {}
        self.responses: dict[str, dict[str, int]] = {}  # response id -> its usage
        self.with_responses: set[str] = set()  # files that record responses
        self.totals: dict[str, dict[str, int]] = {}  # file -> its latest thread totals
        self.sent: dict[str, int] | None = None

    def poll(self) -> None:
        for folder, _, names in os.walk(self.root):
            for name in sorted(names):
                if name.startswith("rollout-") and name.endswith(".jsonl"):
                    self._read(os.path.join(folder, name))
        counted = list(self.responses.values())
        counted += [t for path, t in self.totals.items() if path not in self.with_responses]
        usage = {f: sum(c[f] for c in counted) for f in _FIELDS}
        if counted and usage != self.sent:
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
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("payload"), dict):
                self._see(path, record["type"], record["payload"])

    def _see(self, path: str, kind: Any, payload: dict[str, Any]) -> None:
        if kind == "token_usage_record":
            usage = _counts(payload.get("usage"))
            if usage is not None:
                key = str(payload.get("response_id") or f"{path}#{len(self.responses)}")
                self.responses[key] = usage
                self.with_responses.add(path)
        elif kind == "event_msg" and payload.get("type") == "token_count":
            totals = _counts((payload.get("info") or {}).get("total_token_usage"))
            if totals is not None:
                old = self.totals.get(path, {})
                self.totals[path] = {f: max(totals[f], old.get(f, 0)) for f in _FIELDS}


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
