"""structlog, configured once per process: console on a terminal, JSON otherwise.

Every logger comes from `get_logger(__name__)`, so every line says which component wrote it
(`"component": "worker.pipeline"` in JSON, `component=worker.pipeline` on the console).
"""

import logging
import sys

import structlog
from structlog.typing import FilteringBoundLogger

_configured = False


def configure_logging(json: bool | None = None, level: int = logging.INFO) -> None:
    """Configure structlog and the stdlib root logger; later calls do nothing."""
    global _configured
    if _configured:
        return
    _configured = True
    use_json = (not sys.stderr.isatty()) if json is None else json
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)


def get_logger(name: str) -> FilteringBoundLogger:
    """A logger whose every line carries `name` (pass the module's `__name__`).

    structlog's `PrintLoggerFactory` drops a positional name, so the name is bound as a value.
    The logger stays lazy: it takes the configuration in force when it first logs, so module
    level loggers made before `configure_logging` runs are configured too.
    """
    logger: FilteringBoundLogger = structlog.get_logger(component=name)
    return logger
