"""MLLP framing, tested with bytes alone."""

from __future__ import annotations

import asyncio

import pytest

from adapters.hl7v2.framing import FrameDecoder, FrameError, frame, read_frame


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


# The listener's incremental decoder follows the same rules as read_frame.


def decoded(*chunks: bytes, limit: int = 100) -> list[bytes]:
    decoder = FrameDecoder(limit)
    frames = [f for chunk in chunks for f in decoder.feed(chunk)]
    decoder.end()
    return frames


def test_the_decoder_takes_several_frames_in_one_read_and_one_frame_in_many() -> None:
    data = frame(b"MSH|one") + frame(b"MSH|two")
    assert decoded(data) == [b"MSH|one", b"MSH|two"]
    assert decoded(*(data[i : i + 3] for i in range(0, len(data), 3))) == [b"MSH|one", b"MSH|two"]
    assert decoded(*(data[i : i + 1] for i in range(len(data)))) == [b"MSH|one", b"MSH|two"]


def test_the_decoder_skips_noise_between_frames() -> None:
    assert decoded(frame(b"one") + b"\r\nnoise", frame(b"two") + b"\n") == [b"one", b"two"]


def test_the_decoder_refuses_a_frame_over_the_limit_even_before_it_ends() -> None:
    decoder = FrameDecoder(100)
    assert decoder.feed(frame(b"x" * 100)) == [b"x" * 100]
    with pytest.raises(FrameError, match="size limit"):
        decoder.feed(b"\x0b" + b"x" * 150)


def test_the_decoder_refuses_garbage_and_a_stream_ending_inside_a_frame() -> None:
    with pytest.raises(FrameError, match="inside a frame"):
        decoded(b"\x0bMSH|half")
    with pytest.raises(FrameError, match="garbage"):
        decoded(b"GET / HTTP/1.1\r\n")
    with pytest.raises(FrameError, match="within the size limit"):
        FrameDecoder(10).feed(b"x" * 11)


def test_the_decoder_finds_an_end_block_split_across_reads() -> None:
    decoder = FrameDecoder(100)
    assert decoder.feed(b"\x0bMSH|a\x1c") == []
    assert decoder.feed(b"\r") == [b"MSH|a"]
    assert decoder.buffered == 0
