"""MLLP framing (HL7 v2 over TCP): <VT> message <FS><CR>. Bytes only; no HL7 knowledge here."""

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
