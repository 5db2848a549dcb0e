"""Ctrl-C and SIGTERM while a run removes its debug pods: noted and announced, never obeyed
half-way, and never lost.

A second Ctrl-C (or a CI runner's SIGTERM after the user's Ctrl-C) used to land in the
middle of the end-of-run cleanup and leave the pods and namespace behind, without a word.
Python runs signal handlers in the main thread only, so that is where this works (elsewhere
both helpers do nothing):

- :func:`signals_held`: while active, SIGINT and SIGTERM are recorded and announced instead
  of raising; the cleanup runs to its own deadline, and the outermost holder learns
  afterwards which signals came (to stop the program then, or to say so).
- :func:`first_interrupt_then_held`: for a whole session: the first signal raises
  KeyboardInterrupt as usual, every later one is held until the block ends, so neither the
  unwinding that leads to the cleanup nor the cleanup itself can be cut short.

The first signal's KeyboardInterrupt can be lost: when the handler happens to run inside a
finalizer (``__del__``, a generator closed by the garbage collector), Python reports the
exception as "ignored" and carries on, and the run went on sampling with its pods (the
flaky Ctrl-C test). So until the program shows it is unwinding (the block ends, a cleanup
starts holding, or :func:`interrupt_noticed`, which pytest's ``pytest_keyboard_interrupt``
calls), the interrupt is raised again every :data:`UNWIND_GRACE_S`.

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
#: Seconds the first interrupt may take to reach code that unwinds on it before it is raised
#: again (it takes milliseconds unless it was lost; raising it twice early is harmless).
UNWIND_GRACE_S = 5.0


@dataclass
class HeldSignals:
    """What a holder learns when its block ends.

    Attributes:
        received: names of the signals that came while held (``SIGINT``...), filled when
            the block ends, for the outermost holder only (inner ones leave them to it).
    """

    received: list[str] = field(default_factory=list)


class _Hold:
    """The process's one holding state (its handlers run on the main thread)."""

    def __init__(self) -> None:
        self.depth = 0
        self.received: list[str] = []
        self.note = ""
        self.fd = 2
        #: Set once the program unwinds on the first interrupt (see the module docstring).
        self.unwinding = threading.Event()
        self.unwinding.set()
        self.reraise = ""  # the first interrupt's text while it is to be raised again

    def handler(self, signum: int, frame: FrameType | None) -> None:
        del frame
        if self.reraise and not self.unwinding.is_set():  # the watchdog's, not a user's
            raise KeyboardInterrupt(self.reraise)
        name = signal.Signals(signum).name
        self.received.append(name)
        # os.write, not print: the main thread may be inside a print to stderr right now,
        # and a buffered stream refuses reentrant writes.
        with contextlib.suppress(OSError):
            os.write(self.fd, f"\nctdiag: {name} received: {self.note}\n".encode())

    def start(self, note: str, fd: int) -> None:
        self.received, self.note, self.fd = [], note, fd


_HOLD = _Hold()


def interrupt_noticed() -> None:
    """The program is unwinding on the first interrupt: it need not be raised again."""
    _HOLD.unwinding.set()


def _watch_unwinding(unwinding: threading.Event) -> None:
    """Raise the first interrupt again until the program shows it is unwinding on it."""
    main = threading.main_thread().ident
    while not unwinding.wait(UNWIND_GRACE_S) and main is not None:
        # A real signal, to the main thread: it also ends a blocking call (a sleep, a read),
        # which _thread.interrupt_main would not. _HOLD.handler raises it.
        signal.pthread_kill(main, signal.SIGINT)


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
def signals_held(note: str, *, fd: int = 2) -> Iterator[HeldSignals]:
    """Hold SIGINT and SIGTERM for the block (see the module docstring).

    Args:
        note: what is said when a signal is held (``removing debug pods first ...``); the
            outermost holder's note is the one shown.
        fd: where it is said (stderr; pytest passes the terminal's, which it does not
            capture).
    """
    held = HeldSignals()
    if not _on_main_thread():
        yield held
        return
    interrupt_noticed()  # a cleanup starting: the program is where the interrupt leads
    outermost = _HOLD.depth == 0
    previous: dict[int, Any] = {}
    if outermost:
        _HOLD.start(note, fd)
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
def first_interrupt_then_held(note: str, *, fd: int = 2) -> Iterator[HeldSignals]:
    """The first SIGINT or SIGTERM in the block raises KeyboardInterrupt (again, until the
    program unwinds on it); later ones are held until the block ends.

    Args:
        note: what is said when a later signal is held.
        fd: where it is said (see :func:`signals_held`).

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
            _HOLD.start(note, fd)
            _install(_HOLD.handler)
        _HOLD.depth += 1
        holding = True
        _HOLD.reraise = f"signal {signal.Signals(signum).name}"
        _HOLD.unwinding = threading.Event()
        watchdog = threading.Thread(target=_watch_unwinding, args=(_HOLD.unwinding,),
                                    name="ctdiag-interrupt", daemon=True)  # fmt: skip
        watchdog.start()
        raise KeyboardInterrupt(_HOLD.reraise)

    previous = _install(first)
    try:
        yield held
    finally:
        interrupt_noticed()
        _HOLD.reraise = ""
        if holding:
            _HOLD.depth -= 1
            held.received.extend(_HOLD.received)
        if _HOLD.depth == 0:
            _restore(previous)
