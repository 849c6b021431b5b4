"""Leaving a process that used the Temporal SDK.

The SDK's native threads can outlive the event loop and abort the interpreter's teardown
(temporalio/sdk-python#300: "PyGILState_Release ... must be current"), after the program has
done all its work and said so. Programs therefore flush their output and leave without that
teardown.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import NoReturn


def leave(code: int) -> NoReturn:
    """Flush standard output and error, then end the process with `code` at once."""
    for stream in (sys.stdout, sys.stderr):
        # a reader that left (`| head`), or a closed stream: nothing more to say there
        with contextlib.suppress(BrokenPipeError, ValueError):
            stream.flush()
    os._exit(code)
