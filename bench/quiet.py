"""Keep the benchmark's report readable: everything else written to the terminal goes to a log file.

While measuring, file descriptors 1 and 2 point at ``.bench/run.log``: the gateway's JSON log lines and EMF
metrics, the dev servers' access logs and tracebacks (a client hanging up on the simulator), and child processes
(the AWS emulation, LiteLLM's side) all land there. Progress notes and the report go to the real terminal.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


@contextmanager
def output_to(log: Path) -> Iterator[tuple[TextIO, TextIO]]:
    """Redirect fds 1 and 2 into ``log``; yields (stdout, stderr) streams on the terminal they pointed at."""
    log.parent.mkdir(exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    terminal_out = os.fdopen(os.dup(saved_out), "w", buffering=1)
    terminal_err = os.fdopen(os.dup(saved_err), "w", buffering=1)
    with log.open("a") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield terminal_out, terminal_err
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            os.close(saved_err)
            terminal_out.close()
            terminal_err.close()
