"""The provider calls the simulator is serving right now, and the waits they park in.

A call is in flight from the moment its request has been read until its answer is sent (or its client is
gone). Every wait of a call (a timeout or slow fault's delay, a paced stream's delays) parks here, so that
``release`` can cut them all short: a test that ends while a call of its own is parked lets it finish at once
instead of having it answered, recorded or counted during the next test on the same simulator.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class CallsInFlight:
    """Thread-safe count of the calls being served, with the parking they wait in."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._count = 0
        self._released = False  # the calls in flight wait no more, until none is left
        self._stopped = False  # the simulator stopped: nothing waits ever again

    @property
    def count(self) -> int:
        with self._changed:
            return self._count

    @contextmanager
    def serving(self) -> Iterator[None]:
        """One call, in flight for the duration of the block."""
        with self._changed:
            self._count += 1
        try:
            yield
        finally:
            with self._changed:
                self._count -= 1
                if self._count == 0:
                    self._released = False  # a call that starts later parks again
                    self._changed.notify_all()

    def park(self, seconds: float) -> None:
        """Wait ``seconds``, or less if ``release`` or ``stop`` comes first."""
        with self._changed:
            self._changed.wait_for(lambda: self._released or self._stopped, timeout=seconds)

    def release(self) -> None:
        """End every wait of the calls in flight now, and of any that start before none is in flight."""
        with self._changed:
            if self._count:
                self._released = True
                self._changed.notify_all()

    def hold(self) -> None:
        """Undo ``release``: calls that are still in flight park again from their next wait."""
        with self._changed:
            self._released = False

    def wait_idle(self, timeout: float) -> bool:
        """Whether no call was in flight within ``timeout`` seconds (at once when none is)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._count == 0, timeout=timeout)

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify_all()

    def start(self) -> None:
        with self._changed:
            self._stopped = False
