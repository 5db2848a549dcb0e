"""Real SIGINT and SIGTERM sent to this process: held while held, announced where told, the
first one raised again when Python lost it in a finalizer."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from ctdiag.collect.kube.interrupts import (
    UNWIND_GRACE_S,
    first_interrupt_then_held,
    interrupt_noticed,
    signals_held,
)

pytestmark = pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="signal handlers run in the main thread only",
)


@pytest.fixture(autouse=True)
def python_sigint_handler():
    """Python's own SIGINT handler for each test, whatever an earlier test in this process
    left behind; put back afterwards."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _signal(signum: signal.Signals) -> None:
    """Send ``signum`` to this process and give its handler the chance to run."""
    os.kill(os.getpid(), signum)
    for _ in range(1000):  # the handler runs between bytecodes
        pass
    time.sleep(0.05)


def _said(read_end: int) -> list[str]:
    with os.fdopen(read_end) as pipe:
        return [line for line in pipe.read().splitlines() if line]


def test_signals_are_held_and_announced_then_told_to_the_outermost_holder() -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    read_end, write_end = os.pipe()
    try:
        with signals_held("removing pods", fd=write_end) as outer:
            with signals_held("inner", fd=write_end) as inner:
                _signal(signal.SIGINT)
            _signal(signal.SIGTERM)
    finally:
        os.close(write_end)
    assert inner.received == [] and outer.received == ["SIGINT", "SIGTERM"]
    assert _said(read_end) == ["ctdiag: SIGINT received: removing pods",
                               "ctdiag: SIGTERM received: removing pods"]  # fmt: skip
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    with pytest.raises(KeyboardInterrupt):
        _signal(signal.SIGINT)  # not held any more


def test_after_the_first_interrupt_later_ones_are_held_until_the_block_ends() -> None:
    read_end, write_end = os.pipe()
    guard = first_interrupt_then_held("the run is ending", fd=write_end)
    with pytest.raises(KeyboardInterrupt, match="signal SIGTERM"), guard as later:
        try:
            _signal(signal.SIGTERM)
        except KeyboardInterrupt:
            interrupt_noticed()  # as pytest_keyboard_interrupt does
            _signal(signal.SIGINT)  # an impatient user, during the cleanup
            _signal(signal.SIGTERM)
            raise
        raise AssertionError("the first signal was not raised")
    os.close(write_end)
    assert later.received == ["SIGINT", "SIGTERM"]
    assert _said(read_end) == [f"ctdiag: {name} received: the run is ending"
                               for name in ("SIGINT", "SIGTERM")]  # fmt: skip


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_interrupt_lost_in_a_finalizer_is_raised_again() -> None:
    class LosesTheInterrupt:
        def __del__(self) -> None:
            _signal(signal.SIGINT)  # its KeyboardInterrupt is "ignored" here, as Python does

    started = time.monotonic()
    guard = first_interrupt_then_held("the run is ending")
    with pytest.raises(KeyboardInterrupt, match="signal SIGINT"), guard:
        LosesTheInterrupt()  # finalized at once
        time.sleep(UNWIND_GRACE_S * 4)  # the run carries on as if nothing happened
    took = time.monotonic() - started
    assert UNWIND_GRACE_S - 0.5 <= took <= UNWIND_GRACE_S + 3


def test_outside_any_block_signals_do_what_they_did() -> None:
    handler = signal.getsignal(signal.SIGINT)
    with first_interrupt_then_held("x"):
        assert signal.getsignal(signal.SIGINT) is not handler
    assert signal.getsignal(signal.SIGINT) is handler
