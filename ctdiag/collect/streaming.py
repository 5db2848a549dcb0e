"""Parse the flow listing on a worker thread while the node is still writing it.

``conntrack -L`` spends its second formatting on one core; the C fast path parses a block in
milliseconds without the GIL. :class:`BackgroundListingParse` receives stdout chunks from
the reading thread (cheap: a queue put) and feeds a
:class:`~ctdiag.parse.listing_stream.ListingStreamParser` on its own thread, so the table
is ready moments after the listing ends. The snapshot still stores the raw bytes unchanged.

The bytes fed are exactly the text :class:`~ctdiag.analyze.node_state.NodeState` parses from a
snapshot (:func:`~ctdiag.parse.listing.listing_text`), so the table is the same whichever way
it was made.
"""

from __future__ import annotations

import queue
import threading

from ctdiag.model.table import ConntrackTable
from ctdiag.parse.listing_stream import ListingStreamParser


class BackgroundListingParse:
    """A worker thread that parses listing chunks in the order :meth:`feed` receives them.

    Use as a context manager (the thread stops on the way out, even when the listing
    failed), or call :meth:`close`.
    """

    def __init__(self, parser: ListingStreamParser | None = None) -> None:
        self._parser = parser or ListingStreamParser()
        self._chunks: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._failure: BaseException | None = None
        # Daemon: a caller that dies without close() must not keep the process alive.
        self._thread = threading.Thread(target=self._work, name="ctdiag-listing-parse", daemon=True)
        self._thread.start()

    @property
    def blocks(self) -> int:
        """Blocks parsed as the bytes came (read it after :meth:`finish`)."""
        return self._parser.blocks

    def feed(self, chunk: bytes) -> None:
        """Queue the next bytes (a :data:`~ctdiag.collect.runners.StdoutConsumer`)."""
        self._chunks.put(chunk)

    def finish(self) -> ConntrackTable:
        """Wait for the queued bytes to be parsed and return the table of all of them.

        Raises:
            ParseError: the listing is XML or ``-o save`` output.
        """
        self.close()
        if self._failure is not None:
            raise self._failure
        return self._parser.finish()

    def close(self) -> None:
        """Stop the worker after what is queued (idempotent)."""
        if self._thread.is_alive():
            self._chunks.put(None)
            self._thread.join()

    def __enter__(self) -> BackgroundListingParse:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _work(self) -> None:
        while (chunk := self._chunks.get()) is not None:
            if self._failure is not None:
                continue  # drain: the caller learns of the failure in finish()
            try:
                self._parser.feed(chunk)
            except BaseException as exc:  # re-raised in the caller's thread by finish()
                self._failure = exc
