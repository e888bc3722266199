"""MLLP framing (HL7 v2 over TCP): <VT> message <FS><CR>. Bytes only; no HL7 knowledge here.

`read_frame` reads one frame from a stream (clients, tests); `FrameDecoder` takes bytes as they
arrive and hands out whole frames (the gateway's listener, which is a Protocol for speed). Both
follow the same rules: noise between frames is skipped up to the size limit, a frame over the
limit or a stream ending inside a frame is an error, and nothing partial is handed on.
"""

from __future__ import annotations

import asyncio

START, END = b"\x0b", b"\x1c\x0d"


class FrameError(Exception):
    """The byte stream is not MLLP (or a frame is larger than allowed): close the connection."""


def frame(payload: bytes) -> bytes:
    return START + payload + END


async def read_frame(reader: asyncio.StreamReader, max_bytes: int) -> bytes | None:
    """The next frame's payload; None at a clean end of stream between frames.

    Bytes before a start block are skipped (noise some senders put between frames) but only
    up to max_bytes, so garbage cannot hold a connection forever. A stream that ends inside a
    frame, or a frame over max_bytes, raises FrameError: nothing partial is ever handed on.
    """
    skipped = 0
    while True:
        byte = await reader.read(1)
        if not byte:
            if skipped:
                raise FrameError(f"{skipped} bytes of garbage and no frame before end of stream")
            return None
        if byte == START:
            break
        if byte not in (b"\r", b"\n"):
            skipped += 1
            if skipped > max_bytes:
                raise FrameError("no start block within the size limit")
    try:
        payload = await reader.readuntil(END)
    except asyncio.IncompleteReadError:
        raise FrameError("stream ended inside a frame") from None
    except asyncio.LimitOverrunError:
        raise FrameError("frame larger than the size limit") from None
    if len(payload) - len(END) > max_bytes:
        raise FrameError("frame larger than the size limit")
    return payload[: -len(END)]


class FrameDecoder:
    """Incremental MLLP: `feed` the bytes of each read, get back the frames they completed."""

    __slots__ = ("_buf", "_in_frame", "_max", "_scanned", "_skipped")

    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._buf = bytearray()
        self._in_frame = False
        self._scanned = 0  # where the search for the end block resumes (a big frame comes in many reads)
        self._skipped = 0  # noise since the last frame, not counting line breaks

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf
        buf += data
        frames: list[bytes] = []
        pos = 0
        while True:
            if not self._in_frame:
                start = buf.find(START, pos)
                stop = start if start >= 0 else len(buf)
                if stop > pos:
                    line_breaks = buf.count(b"\r", pos, stop) + buf.count(b"\n", pos, stop)
                    self._skipped += stop - pos - line_breaks
                    if self._skipped > self._max:
                        raise FrameError("no start block within the size limit")
                if start < 0:
                    pos = len(buf)
                    break
                pos = self._scanned = start + 1
                self._in_frame = True
            end = buf.find(END, max(pos, self._scanned - 1))
            if end < 0:
                if len(buf) - pos > self._max + 1:
                    raise FrameError("frame larger than the size limit")
                self._scanned = len(buf)
                break
            if end - pos > self._max:
                raise FrameError("frame larger than the size limit")
            frames.append(bytes(buf[pos:end]))
            pos = end + len(END)
            self._in_frame = False
            self._skipped = 0
        del buf[:pos]
        self._scanned -= pos
        return frames

    def end(self) -> None:
        """The stream ended: an error if it ended inside a frame or after garbage alone."""
        if self._in_frame:
            raise FrameError("stream ended inside a frame")
        if self._skipped:
            raise FrameError(f"{self._skipped} bytes of garbage and no frame before end of stream")
