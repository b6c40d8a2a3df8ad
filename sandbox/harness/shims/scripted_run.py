"""Plays the scripted harness's actions and prints what it does as JSON lines.

Usage: python3 -c <this> PROMPT, with env BURNDOWN_SCRIPT = a JSON script ({"actions": [...],
"model", "system_prompt", "max_turns", "max_budget_usd"}); the working directory is the tree.
Standard library only (the image's python3), and importable: `play` runs the same actions
in-process for a fake runtime. Printed, one object a line:
  {"type": "start", "prompt", "model", "system_prompt", "cwd", "version"}
  {"type": "say", "text"}
  {"type": "tool", "id", "name": "write"|"run", "input"}
  {"type": "tool_done", "id", "output", "is_error", "exit_code"?, "files"?}
  {"type": "sleep", "seconds"} / {"type": "output", "bytes", "stream"} (then the bytes)
  {"type": "usage", "input_tokens", "output_tokens", "cached_tokens", "cost_usd"?}
  {"type": "result", "status", "text", "turns"}
"""

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

VERSION = "1"
MAX_OUTPUT = 64_000
Sink = Callable[[str], None]


class _Player:
    def __init__(self, script: dict[str, Any], workdir: str, out: Sink, err: Sink) -> None:
        self.script, self.workdir, self.out, self.err = script, workdir, out, err
        self.turns, self.cost, self.last_text = 0, 0.0, ""

    def emit(self, obj: dict[str, Any]) -> None:
        self.out(json.dumps(obj))

    def result(self, status: str, text: str, code: int) -> int:
        self.emit({"type": "result", "status": status, "text": text, "turns": self.turns})
        return code

    def play(self, prompt: str) -> int:
        s = self.script
        start = {"prompt": prompt, "model": s.get("model"), "cwd": self.workdir}
        start["system_prompt"] = s.get("system_prompt")
        self.emit({"type": "start", **start, "version": VERSION})
        for action in s.get("actions") or []:
            kind = action.get("type")
            if kind in ("write", "run"):
                if s.get("max_turns") and self.turns >= s["max_turns"]:
                    return self.result("max_turns", f"stopped after {self.turns} turns", 1)
                self.turns += 1
            code = self.act(kind, action)
            if code is not None:
                return code
            budget = s.get("max_budget_usd")
            if budget and self.cost > budget:
                return self.result("budget", f"spent {self.cost} USD of {budget}", 1)
        return self.result("success", self.last_text, 0)

    def act(self, kind: str, a: dict[str, Any]) -> int | None:
        if kind == "say":
            self.last_text = str(a.get("text", ""))
            self.emit({"type": "say", "text": self.last_text})
        elif kind == "write":
            self.write(str(a["path"]), str(a.get("content", "")))
        elif kind == "run":
            self.run(a["command"], float(a.get("timeout_seconds") or 600))
        elif kind == "sleep":
            self.emit({"type": "sleep", "seconds": a.get("seconds", 0)})
            time.sleep(float(a.get("seconds", 0)))
        elif kind == "output":
            self.output(int(a.get("bytes", 0)), int(a.get("line_bytes") or 1000), a.get("stream"))
        elif kind == "usage":
            self.cost += float(a.get("cost_usd") or 0)
            self.emit({**a, "type": "usage"})
        elif kind == "finish":
            status = str(a.get("status") or "success")
            code = a.get("exit_code")
            text = str(a.get("text", ""))
            return self.result(
                status, text, (0 if status == "success" else 1) if code is None else code
            )
        elif kind == "exit":
            return int(a.get("code", 1))
        return None

    def write(self, path: str, content: str) -> None:
        call = f"t{self.turns}"
        self.emit({"type": "tool", "id": call, "name": "write", "input": {"path": path}})
        full = os.path.join(self.workdir, path)
        try:
            os.makedirs(os.path.dirname(full) or ".", exist_ok=True)
            with open(full, "w") as f:
                f.write(content)
        except OSError as exc:
            self.emit({"type": "tool_done", "id": call, "output": str(exc), "is_error": True})
            return
        done = {"output": f"wrote {len(content)} characters", "is_error": False, "files": [path]}
        self.emit({"type": "tool_done", "id": call, **done})

    def run(self, command: str | list[str], timeout: float) -> None:
        call = f"t{self.turns}"
        self.emit({"type": "tool", "id": call, "name": "run", "input": {"command": command}})
        argv = ["/bin/sh", "-c", command] if isinstance(command, str) else command
        try:
            proc = subprocess.run(
                argv,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            self.emit({"type": "tool_done", "id": call, "output": "timed out", "is_error": True})
            return
        except OSError as exc:
            self.emit({"type": "tool_done", "id": call, "output": str(exc), "is_error": True})
            return
        output = proc.stdout.decode(errors="replace")[-MAX_OUTPUT:]
        code = proc.returncode
        done = {"output": output, "is_error": code != 0, "exit_code": code}
        self.emit({"type": "tool_done", "id": call, **done})

    def output(self, size: int, line_bytes: int, stream: Any) -> None:
        self.emit({"type": "output", "bytes": size, "stream": stream or "stdout"})
        sink = self.err if stream == "stderr" else self.out
        full, rest = divmod(size, line_bytes)
        line = "x" * (line_bytes - 1)
        for _ in range(full):
            sink(line)
        if rest:
            sink("x" * (rest - 1))


def play(script: dict[str, Any], prompt: str, workdir: str, out: Sink, err: Sink) -> int:
    """Run `script` on `workdir`, each output line (without its newline) to `out` (stdout) or
    `err` (stderr); the exit code."""
    return _Player(script, workdir, out, err).play(prompt)


def _printer(stream: Any) -> Sink:
    def write(line: str) -> None:
        stream.write(line + "\n")
        stream.flush()

    return write


def main() -> int:
    script = json.loads(os.environ.get("BURNDOWN_SCRIPT") or "{}")
    prompt = sys.argv[1] if len(sys.argv) > 1 else ""
    return play(script, prompt, os.getcwd(), _printer(sys.stdout), _printer(sys.stderr))


if __name__ == "__main__":
    sys.exit(main())
