"""Ctrl-C and SIGTERM while a run removes its debug pods: noted and announced, never obeyed
half-way.

A second Ctrl-C (or a CI runner's SIGTERM after the user's Ctrl-C) used to land in the
middle of the end-of-run cleanup and leave the pods and namespace behind, without a word.
Python runs signal handlers in the main thread only, so that is where this works (elsewhere
both helpers do nothing):

- :func:`signals_held`: while active, SIGINT and SIGTERM are recorded and announced on
  stderr instead of raising; the cleanup runs to its own deadline, and the outermost holder
  learns afterwards which signals came (to stop the program then, or to say so).
- :func:`first_interrupt_then_held`: for a whole session: the first signal raises
  KeyboardInterrupt as usual, every later one is held until the block ends, so neither the
  unwinding that leads to the cleanup nor the cleanup itself can be cut short.

The cleanup under them is bounded in time (``CLOSE_BUDGET_S`` of the session), so holding
signals never keeps a program alive for long.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class HeldSignals:
    """What a holder learns when its block ends.

    Attributes:
        received: names of the signals that came while held (``SIGINT``...), filled when
            the block ends, for the outermost holder only (inner ones leave them to it).
    """

    received: list[str] = field(default_factory=list)


class _Hold:
    """The process's one holding state (main thread only, so no lock)."""

    def __init__(self) -> None:
        self.depth = 0
        self.received: list[str] = []
        self.note = ""

    def handler(self, signum: int, frame: FrameType | None) -> None:
        del frame
        name = signal.Signals(signum).name
        self.received.append(name)
        # os.write, not print: the main thread may be inside a print to stderr right now,
        # and a buffered stream refuses reentrant writes.
        with contextlib.suppress(OSError):
            os.write(2, f"\nctdiag: {name} received: {self.note}\n".encode())


_HOLD = _Hold()


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _install(handler: Any) -> dict[int, Any]:
    previous: dict[int, Any] = {signum: signal.getsignal(signum) for signum in HELD_SIGNALS}
    for signum in HELD_SIGNALS:
        signal.signal(signum, handler)
    return previous


def _restore(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


@contextlib.contextmanager
def signals_held(note: str) -> Iterator[HeldSignals]:
    """Hold SIGINT and SIGTERM for the block (see the module docstring).

    Args:
        note: what stderr says when a signal is held (``removing debug pods first ...``);
            the outermost holder's note is the one shown.
    """
    held = HeldSignals()
    if not _on_main_thread():
        yield held
        return
    outermost = _HOLD.depth == 0
    previous: dict[int, Any] = {}
    if outermost:
        _HOLD.received, _HOLD.note = [], note
        previous = _install(_HOLD.handler)
    _HOLD.depth += 1
    try:
        yield held
    finally:
        _HOLD.depth -= 1
        if outermost:
            _restore(previous)
            held.received.extend(_HOLD.received)


@contextlib.contextmanager
def first_interrupt_then_held(note: str) -> Iterator[HeldSignals]:
    """The first SIGINT or SIGTERM in the block raises KeyboardInterrupt; later ones are held.

    Args:
        note: what stderr says when a later signal is held.

    Yields:
        What was held after the first signal (filled when the block ends), so a caller
        can tell that the run was interrupted again.
    """
    held = HeldSignals()
    if not _on_main_thread():
        yield held
        return
    holding = False

    def first(signum: int, frame: FrameType | None) -> None:
        nonlocal holding
        del frame
        if _HOLD.depth == 0:  # else a cleanup holds already: its handler is in place
            _HOLD.received, _HOLD.note = [], note
            _install(_HOLD.handler)
        _HOLD.depth += 1
        holding = True
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    previous = _install(first)
    try:
        yield held
    finally:
        if holding:
            _HOLD.depth -= 1
            held.received.extend(_HOLD.received)
        if _HOLD.depth == 0:
            _restore(previous)
