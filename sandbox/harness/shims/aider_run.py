"""Runs Aider's own `main` (what the `aider` command runs) and streams what it says as JSON lines.

Aider prints a console view for people and has no event stream. Its console goes through a few
methods of `aider.io.InputOutput` (assistant text, tool output, warnings, errors) and its
analytics `event` calls carry the numbers (tokens and cost per message, the exit reason). This
wrapper taps those calls, prints each as one JSON line on stdout, and sends Aider's own console to
stderr:
  {"type": "start", "version": ...}
  {"type": "io", "method": "assistant_output" | "tool_output" | "tool_warning" | "tool_error",
   "text": ..., "log_only": ...}
  {"type": "event", "event": <analytics event name>, "properties": {...}}
  {"type": "exit", "code": <main's return>, "error": <uncaught exception or null>}
Usage: /opt/aider/bin/python -c <this> AIDER_ARGS...
Optional env BURNDOWN_AIDER_CONVENTIONS: text given to Aider as a read-only conventions file.
"""
# mypy: ignore-errors

import json
import os
import sys


def main():
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # Aider's console (and any stray print) goes to stderr

    def emit(obj):
        out.write(json.dumps(obj, default=str) + "\n")
        out.flush()

    import aider
    from aider import analytics, models, repomap
    from aider import io as aider_io
    from aider.main import main as aider_main

    def tap(name):
        original = getattr(aider_io.InputOutput, name)

        def tapped(self, *args, **kwargs):
            text = " ".join(str(a) for a in args if a is not None)
            emit({"type": "io", "method": name, "text": text, "log_only": kwargs.get("log_only")})
            return original(self, *args, **kwargs)

        setattr(aider_io.InputOutput, name, tapped)

    for name in ("assistant_output", "tool_output", "tool_warning", "tool_error"):
        tap(name)

    original_event = analytics.Analytics.event

    def event(self, event_name, main_model=None, **kwargs):
        props = {k: v if isinstance(v, (int, float, bool)) else str(v) for k, v in kwargs.items()}
        if main_model is not None:
            props["main_model"] = getattr(main_model, "name", str(main_model))
        emit({"type": "event", "event": event_name, "properties": props})
        return original_event(self, event_name, main_model, **kwargs)

    analytics.Analytics.event = event
    # No download of LiteLLM's price list from inside the sandbox (it has no internet).
    models.ModelInfoManager._update_cache = lambda self: None
    # The repo map's tags cache would land in the checkout (and the pull request): an absolute
    # path wins the join with the repository root.
    repomap.RepoMap.TAGS_CACHE_DIR = os.path.join(os.path.expanduser("~"), ".aider.tags.cache")

    os.makedirs("/tmp/aider", exist_ok=True)  # where the adapter puts Aider's history files
    argv = sys.argv[1:]
    conventions = os.environ.get("BURNDOWN_AIDER_CONVENTIONS")
    if conventions:
        path = os.path.join(os.path.expanduser("~"), "burndown-conventions.md")
        with open(path, "w") as f:
            f.write(conventions)
        argv += ["--read", path]
    emit({"type": "start", "version": aider.__version__})
    code, error = 1, None
    try:
        code = aider_main(argv) or 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:  # reported as the run's error, then re-raised
        error = f"{type(exc).__name__}: {exc}"
        emit({"type": "exit", "code": 1, "error": error})
        raise
    emit({"type": "exit", "code": code, "error": None})
    return code


if __name__ == "__main__":
    sys.exit(main())
