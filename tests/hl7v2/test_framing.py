"""MLLP framing, tested with bytes alone."""

from __future__ import annotations

import asyncio

import pytest

from adapters.hl7v2.framing import FrameError, frame, read_frame


def reader_with(*chunks: bytes, limit: int = 1 << 20) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=limit)
    for chunk in chunks:
        reader.feed_data(chunk)
    reader.feed_eof()
    return reader


async def test_several_frames_and_a_clean_end() -> None:
    reader = reader_with(frame(b"one") + frame(b"two"))
    assert [await read_frame(reader, 100), await read_frame(reader, 100), await read_frame(reader, 100)] == [
        b"one",
        b"two",
        None,
    ]


async def test_a_frame_split_across_reads() -> None:
    data = frame(b"MSH|split message")
    reader = reader_with(*(data[i : i + 3] for i in range(0, len(data), 3)))
    assert await read_frame(reader, 100) == b"MSH|split message"


async def test_garbage_between_frames_is_skipped() -> None:
    reader = reader_with(frame(b"one") + b"\r\nnoise" + frame(b"two"))
    assert await read_frame(reader, 100) == b"one"
    assert await read_frame(reader, 100) == b"two"


async def test_end_of_stream_inside_a_frame_is_an_error() -> None:
    with pytest.raises(FrameError, match="inside a frame"):
        await read_frame(reader_with(b"\x0bMSH|half"), 100)


async def test_a_frame_over_the_limit_is_an_error() -> None:
    with pytest.raises(FrameError, match="size limit"):
        await read_frame(reader_with(frame(b"x" * 200), limit=100), 100)


async def test_only_garbage_is_an_error() -> None:
    with pytest.raises(FrameError, match="garbage"):
        await read_frame(reader_with(b"GET / HTTP/1.1\r\n"), 100)
