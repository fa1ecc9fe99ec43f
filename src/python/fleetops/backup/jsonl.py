"""Gzip JSON Lines, written and read as streams.

`GzipLinesWriter` compresses lines into a sink (see `s3store.MultipartSink`) as they come, so
memory holds the compressor's window and the sink's one part, whatever the number of lines.
`read_gzip_lines` does the reverse over an iterator of chunks, hashing and counting the stored
bytes on the way (`StreamStats`), decompressing in bounded steps.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from fleetops.backup.s3store import StoredObject

GZIP_WBITS = 31
"""zlib's wbits for a gzip container (header with mtime 0: equal input, equal bytes)."""
MAX_LINE_BYTES = 8 * 1024 * 1024
"""A line longer than this is corruption (a DynamoDB item is at most 400 KB)."""
_DECOMPRESS_STEP = 1024 * 1024


class Sink(Protocol):
    def write(self, data: bytes) -> None: ...

    def close(self) -> StoredObject: ...

    def abort(self) -> None: ...


class StreamFormatError(ValueError):
    """The stored bytes are not gzip JSON Lines (truncated, corrupt, a line far too long)."""


class GzipLinesWriter:
    """Count and compress lines into `sink`. `close()` returns what was stored."""

    def __init__(self, sink: Sink, *, level: int = 6) -> None:
        self.sink = sink
        self.lines = 0
        self.raw_bytes = 0
        self._compressor = zlib.compressobj(level, zlib.DEFLATED, GZIP_WBITS)
        self._pending: list[bytes] = []
        self._pending_size = 0

    def write_line(self, line: bytes) -> None:
        """`line` must end with a newline and contain no other."""
        self.lines += 1
        self.raw_bytes += len(line)
        # Batch small lines before compressing: one zlib call per ~64 KiB, not per item.
        self._pending.append(line)
        self._pending_size += len(line)
        if self._pending_size >= 65536:
            self._flush_pending()

    def _flush_pending(self) -> None:
        if self._pending:
            self.sink.write(self._compressor.compress(b"".join(self._pending)))
            self._pending = []
            self._pending_size = 0

    def close(self) -> StoredObject:
        try:
            self._flush_pending()
            self.sink.write(self._compressor.flush())
        except BaseException:
            self.sink.abort()
            raise
        return self.sink.close()

    def abort(self) -> None:
        self._pending = []
        self.sink.abort()


@dataclass
class StreamStats:
    """Filled in while a stream is read: stored bytes, their sha256, lines seen."""

    bytes: int = 0
    lines: int = 0
    _hash: hashlib._Hash = field(default_factory=hashlib.sha256)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


def read_gzip_lines(chunks: Iterable[bytes], stats: StreamStats) -> Iterator[bytes]:
    """Each non-empty line (without its newline) of a gzip stream given as chunks.

    `stats` is updated as chunks are consumed; its values are final once the iterator is
    exhausted. Raises `StreamFormatError` for bytes that are not one complete gzip stream.
    """
    decompressor = zlib.decompressobj(GZIP_WBITS)
    remainder = b""

    def lines_of(data: bytes) -> Iterator[bytes]:
        nonlocal remainder
        if not data:
            return
        buffer = remainder + data
        lines = buffer.split(b"\n")
        remainder = lines.pop()
        if len(remainder) > MAX_LINE_BYTES:
            raise StreamFormatError(f"a line is longer than {MAX_LINE_BYTES} bytes")
        for line in lines:
            if line:
                stats.lines += 1
                yield line

    for chunk in chunks:
        stats.bytes += len(chunk)
        stats._hash.update(chunk)
        if decompressor.eof:
            if chunk:
                raise StreamFormatError("data after the end of the gzip stream")
            continue
        data = chunk
        while data:
            try:
                out = decompressor.decompress(data, _DECOMPRESS_STEP)
            except zlib.error as exc:
                raise StreamFormatError(f"not a valid gzip stream ({exc})") from None
            yield from lines_of(out)
            data = decompressor.unconsumed_tail
            if decompressor.eof:
                if decompressor.unused_data:
                    raise StreamFormatError("data after the end of the gzip stream")
                break
    if not decompressor.eof:
        raise StreamFormatError("truncated gzip stream")
    try:
        tail = decompressor.flush()
    except zlib.error as exc:
        raise StreamFormatError(f"not a valid gzip stream ({exc})") from None
    yield from lines_of(tail)
    if remainder:
        # The writer ends every line with a newline; a dangling fragment is corruption.
        raise StreamFormatError("the last line has no newline (truncated?)")
