"""structlog configured once at the edge (worker, API, CLI, codec server); code only binds
context.

Pipeline: context and level, logger name and timestamp, stdlib `extra` keys; then, for
structlog and stdlib records alike, tracebacks rendered to text (JSON output), personal data
removed (enforcement.privacy.redact: the last step before rendering, so nothing bypasses
it), and the renderer.
"""

from __future__ import annotations

import logging
import sys

import structlog

from enforcement.privacy.redact import redact_personal_data


def _drop_color_message(_logger: object, _method: str,
                        event_dict: structlog.types.EventDict) -> structlog.types.EventDict:
    """uvicorn passes its message again with terminal colours as `color_message`."""
    event_dict.pop("color_message", None)
    return event_dict


def configure(level: str = "INFO", json: bool = True) -> None:
    """JSON lines on stderr; the stdlib loggers (temporalio's workflow.logger) go through the
    same processors and renderer so workflow logs come out as JSON, redacted, too."""
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        _drop_color_message,
    ]
    # The console renderer formats exceptions itself; JSON needs them as text, which the
    # redaction then scrubs (validation errors quote the values they refused).
    tracebacks: list[structlog.types.Processor] = (
        [structlog.processors.format_exc_info] if json else [])
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tracebacks,
                    redact_personal_data, renderer]))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's CLI gives its loggers their own plain handlers before it loads the app: send
    # them through this pipeline too (its tracebacks can quote request data).
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
