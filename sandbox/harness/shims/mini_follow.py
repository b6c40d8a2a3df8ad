"""Runs mini-swe-agent and streams its trajectory as JSON lines, live.

mini writes its whole trajectory (`-o FILE`, format mini-swe-agent-1.1) after every step and
prints a console view meant for people. This follower sends mini's console to stderr, watches
the trajectory file, and prints to stdout, one line each:
  {"type": "start", "info": <the trajectory's info at its first save>}
  {"type": "message", "index": i, "message": <trajectory message i, unchanged>}
  {"type": "info", "exit_code": <mini's exit code>, "info": <the trajectory's final info>}
Usage: python3 -c <this> TRAJECTORY_FILE -- mini ARGS...  (stdlib only: the image's python3).
Optional env BURNDOWN_MINI_FILES: JSON {path: text} written before mini starts (a price list).
"""

import json
import os
import subprocess
import sys
import time
from typing import Any


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class Follower:
    def __init__(self, path: str) -> None:
        self.path, self.sent, self.started = path, 0, False
        self.mtime: int | None = None
        self.data: dict[str, Any] | None = None

    def poll(self) -> None:
        try:
            mtime = os.stat(self.path).st_mtime_ns
            if mtime == self.mtime:
                return
            with open(self.path) as f:
                data = json.load(f)
        except (OSError, ValueError):  # not written yet, or caught mid-write: next time
            return
        self.mtime, self.data = mtime, data
        if not self.started:
            self.started = True
            emit({"type": "start", "info": data.get("info")})
        messages = data.get("messages") or []
        for i in range(self.sent, len(messages)):
            emit({"type": "message", "index": i, "message": messages[i]})
        self.sent = max(self.sent, len(messages))


def main() -> int:
    path, argv = sys.argv[1], sys.argv[sys.argv.index("--") + 1 :]
    for target, text in json.loads(os.environ.get("BURNDOWN_MINI_FILES") or "{}").items():
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w") as f:
            f.write(text)
    follower = Follower(path)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=sys.stderr)
    while proc.poll() is None:
        follower.poll()
        time.sleep(0.1)
    follower.mtime = None
    follower.poll()
    info = (follower.data or {}).get("info")
    emit({"type": "info", "exit_code": proc.returncode, "info": info})
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
