"""The MLLP listener alone, on a real socket, with a handler the test controls."""

from __future__ import annotations

import asyncio

from adapters.hl7v2.framing import frame, read_frame
from benchmarks._server import free_port
from gateway.intake.mllp import Peer, Reply, start_mllp_server


async def test_a_sender_that_outruns_the_handler_is_held_in_its_own_buffers() -> None:
    """Frames are handled one at a time, in order; while one waits for its answer the listener
    stops reading, so what the sender pushes stays on its side, not in the gateway's memory."""
    waiting: list[tuple[bytes, Reply]] = []

    def handler(payload: bytes, peer: Peer, reply: Reply) -> None:
        waiting.append((payload, reply))  # answered later, by the test

    port = free_port()
    server = await start_mllp_server(handler, "127.0.0.1", port)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        count, padding = 100, b"x" * 200_000
        for n in range(count):
            writer.write(frame(b"MSH|%d|" % n + padding))
        await asyncio.sleep(1)
        assert len(waiting) == 1  # one message at a time
        # 20 MB sent; the kernel's socket buffers hold a few MB, the listener a few frames
        assert writer.transport.get_write_buffer_size() > 5_000_000
        acks = []
        for n in range(count):
            async with asyncio.timeout(10):
                while len(waiting) <= n:
                    await asyncio.sleep(0.001)
            payload, reply = waiting[n]
            assert payload.startswith(b"MSH|%d|" % n)  # in the order sent
            reply(b"ACK %d" % n)
            acks.append(await read_frame(reader, 1 << 20))
        assert acks == [b"ACK %d" % n for n in range(count)]
        writer.close()
    finally:
        server.close()
        await server.wait_closed()


async def test_an_answer_given_at_once_and_one_given_later_keep_their_order() -> None:
    later: list[Reply] = []

    def handler(payload: bytes, peer: Peer, reply: Reply) -> None:
        if payload.endswith(b"later"):
            later.append(reply)
        else:
            reply(payload.upper())

    port = free_port()
    server = await start_mllp_server(handler, "127.0.0.1", port)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(frame(b"one") + frame(b"two later") + frame(b"three"))
        async with asyncio.timeout(5):
            assert await read_frame(reader, 100) == b"ONE"
            while not later:
                await asyncio.sleep(0.001)
        later[0](b"TWO")
        async with asyncio.timeout(5):
            assert await read_frame(reader, 100) == b"TWO"
            assert await read_frame(reader, 100) == b"THREE"
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
