"""Console output that a Ctrl-C cannot break.

tqdm guards the terminal with a lock made of several locks. A KeyboardInterrupt that lands while it
takes or releases them leaves the lock half-taken, and tqdm's own clean-up then raises
``RuntimeError: cannot release un-acquired lock`` in place of the interrupt, so ``ictp-train`` would
end with a traceback instead of saying how to resume. Under :func:`ctrl_c_between_console_calls`
(the command installs it) a Ctrl-C that arrives inside a :func:`console_call` block is held back and
raised as a KeyboardInterrupt as soon as the block ends; anywhere else it is raised at once, as usual.
"""

import signal
import threading
from contextlib import contextmanager

__all__ = ["console_call", "ctrl_c_between_console_calls"]

_inside = 0  # console_call blocks now open
_pending = False  # a Ctrl-C arrived inside one of them


def _on_ctrl_c(signum, frame):
    global _pending
    if _inside:
        _pending = True
    else:
        raise KeyboardInterrupt


@contextmanager
def ctrl_c_between_console_calls():
    """For the duration of the block, SIGINT waits for the end of a :func:`console_call` block.

    Only where Python's own SIGINT handler is in place (the main thread of a process that did not
    ignore or replace it); the previous handler is restored afterwards.
    """
    install = threading.current_thread() is threading.main_thread() and (
        signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
    previous = signal.signal(signal.SIGINT, _on_ctrl_c) if install else None
    try:
        yield
    finally:
        if install:
            signal.signal(signal.SIGINT, previous)


@contextmanager
def console_call():
    """A block of tqdm calls (a log line, a progress-bar update) that a Ctrl-C must not cut in two."""
    global _inside, _pending
    _inside += 1
    try:
        yield
    finally:
        _inside -= 1
        if not _inside and _pending:
            _pending = False
            raise KeyboardInterrupt
