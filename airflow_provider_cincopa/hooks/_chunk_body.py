"""
One chunk's bytes as a request body: what :class:`~airflow_provider_cincopa.hooks.upload.UploadTry`
hands requests for each ``Content-Range`` it sends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from airflow_provider_cincopa.exceptions import CincopaSourceChangedError

if TYPE_CHECKING:
    from airflow_provider_cincopa.hooks.sources import Source


class ChunkBody:
    """
    ``source[start:end]`` as a request body of known length, read one block at a time.

    requests sends an object with ``__len__`` and ``__iter__`` (and no ``read``) with that
    ``Content-Length``, and urllib3 hands each item it yields straight to ``socket.sendall``. So a
    whole block (1 MiB from disk) goes to the kernel in one call, read with ``preadv`` into one
    buffer reused for every block of the chunk: no Python loop per 16 KiB (what a file-like body
    costs: urllib3 reads it 16 KiB at a time), no slicing copies, no fresh 1 MiB allocation per
    block. Each block is sent before the next is read, so reusing the buffer is safe, and memory
    stays one block per chunk in flight.

    :param source: what to read.
    :param start: first byte.
    :param end: exclusive end.
    :param name: the file name, for errors.
    :param on_read: called with the size of each block read (progress).
    :param on_end: called once the last block went to the socket (the next chunk may start).
    :param before_last: called after the last block was read and before it is handed on; what it
        raises aborts the request before its body is complete (the completing chunk checks there
        that the source did not change while its bytes were read).
    """

    def __init__(
        self,
        source: Source,
        start: int,
        end: int,
        name: str,
        on_read: Callable[[int], None],
        on_end: Callable[[], None],
        before_last: Callable[[], None] | None = None,
    ) -> None:
        self.source, self.start, self.end, self.name = source, start, end, name
        self.on_read, self.on_end, self.before_last = on_read, on_end, before_last

    def __len__(self) -> int:
        return self.end - self.start

    def __iter__(self) -> Iterator[memoryview]:
        offset, block = self.start, min(self.source.block_size, self.end - self.start)
        read_into = getattr(self.source, "read_into", None)
        buffer = memoryview(bytearray(block if read_into is not None else 0))
        while offset < self.end:
            wanted = min(block, self.end - offset)
            if read_into is not None:
                data = buffer[: read_into(offset, buffer[:wanted])]
            else:  # a source without read_into (object storage): its bytes as they come
                data = memoryview(self.source.read_at(offset, wanted))
            if len(data) < wanted:
                raise CincopaSourceChangedError(
                    f"The file {self.name} shrank during upload (nothing at byte {offset + len(data)}): "
                    "upload a file that is no longer being written"
                )
            offset += wanted
            if offset >= self.end and self.before_last is not None:
                self.before_last()
            self.on_read(wanted)
            yield data
        self.on_end()  # urllib3 asks for the next block only after sendall() took this one
