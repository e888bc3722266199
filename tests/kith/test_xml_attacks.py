"""Hostile XML at the KITH door: each is refused quickly with a specific error, nothing is read from
disk or the network, and the gateway keeps answering."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import orjson
import pytest

from adapters.kith import safe_xml
from adapters.problems import InputRejected
from tests.attacks import billion_laughs
from tests.conftest import Client
from tests.kith.kith_docs import apprec_fields, example, get_json, post_kith


class Listener:
    """A TCP listener on loopback that records whether anyone connected."""

    def __init__(self) -> None:
        self.contacts = 0
        self.port = 0

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.contacts += 1
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/xml\r\n\r\n<!ENTITY x 'fetched'>")
        await writer.drain()
        writer.close()


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    spy = Listener()
    server = await asyncio.start_server(spy._on_connect, "127.0.0.1", 0)
    spy.port = server.sockets[0].getsockname()[1]
    yield spy
    server.close()
    await server.wait_closed()


BILLION_LAUGHS = billion_laughs(
    "lolz", '<MsgHead xmlns="http://www.kith.no/xmlstds/msghead/2006-05-24">&lol9;</MsgHead>'
)

XXE_FILE = b"""<?xml version="1.0"?>
<!DOCTYPE MsgHead [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<MsgHead xmlns="http://www.kith.no/xmlstds/msghead/2006-05-24"><MsgInfo><MsgId>&xxe;</MsgId></MsgInfo></MsgHead>"""


def xxe_network(port: int) -> bytes:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE MsgHead [<!ENTITY xxe SYSTEM "http://127.0.0.1:{port}/secret">]>\n'
        '<MsgHead xmlns="http://www.kith.no/xmlstds/msghead/2006-05-24">&xxe;</MsgHead>'
    ).encode()


def external_dtd(port: int) -> bytes:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE MsgHead SYSTEM "http://127.0.0.1:{port}/evil.dtd">\n'
        '<MsgHead xmlns="http://www.kith.no/xmlstds/msghead/2006-05-24"/>'
    ).encode()


def parameter_entity(port: int) -> bytes:
    return (
        '<?xml version="1.0"?>\n'
        f'<!DOCTYPE x [<!ENTITY % p SYSTEM "http://127.0.0.1:{port}/p.dtd"> %p;]>\n<x/>'
    ).encode()


async def refused(gateway: Client, body: bytes) -> tuple[int, dict[str, object], float]:
    started = time.perf_counter()
    status, content_type, answer = await post_kith(gateway, body)
    elapsed = time.perf_counter() - started
    assert content_type == "application/problem+json"
    assert (await get_json(gateway, "/health"))[0] == 200  # still answering
    return status, orjson.loads(answer), elapsed


async def test_billion_laughs_is_refused_before_any_expansion(gateway: Client) -> None:
    """Nested entity declarations are refused as a DOCTYPE (T01), in well under a second."""
    status, problem, elapsed = await refused(gateway, BILLION_LAUGHS)
    assert status == 400 and elapsed < 1.0
    assert problem["errors"][0]["kind"] == "unsafe" and problem["errors"][0]["apprec"] == "T01"
    assert "DOCTYPE" in str(problem["detail"])


async def test_xxe_file_read_is_refused_and_nothing_is_read(gateway: Client) -> None:
    """An external entity naming /etc/passwd is refused; nothing of the file comes back."""
    status, problem, elapsed = await refused(gateway, XXE_FILE)
    assert status == 400 and elapsed < 1.0 and problem["errors"][0]["kind"] == "unsafe"
    assert "root:" not in orjson.dumps(problem).decode()


@pytest.mark.parametrize("attack", [xxe_network, external_dtd, parameter_entity])
async def test_network_fetches_are_refused_and_never_made(
    gateway: Client, listener: Listener, attack
) -> None:  # type: ignore[no-untyped-def]
    """An external entity, an external DTD and a parameter entity pointing at a loopback listener are
    refused, and the listener is never contacted."""
    status, problem, elapsed = await refused(gateway, attack(listener.port))
    assert status == 400 and elapsed < 1.0 and problem["errors"][0]["kind"] == "unsafe"
    await asyncio.sleep(0.1)
    assert listener.contacts == 0


async def test_a_utf16_doctype_is_caught_after_parsing_and_nothing_is_fetched(
    gateway: Client, listener: Listener
) -> None:
    """In UTF-16 the byte scan cannot see the DOCTYPE; the parser does not fetch or expand it, and the
    parsed document's DTD refuses it all the same."""
    body = xxe_network(listener.port).replace(
        b'<?xml version="1.0"?>', b'<?xml version="1.0" encoding="UTF-16"?>'
    )
    status, problem, _ = await refused(gateway, body.decode().encode("utf-16"))
    assert status == 400 and problem["errors"][0]["kind"] == "unsafe"
    assert listener.contacts == 0


async def test_a_schema_location_is_never_followed(gateway: Client, listener: Listener) -> None:
    """A valid Dialogmelding whose xsi:schemaLocation points at the listener is validated against the
    local official schemas; the listener is never contacted."""
    body = example("Dialogmelding_svar_foresporsel_PLO_v1-0.xml").replace(
        b"MsgHead-v1_2.xsd", f"http://127.0.0.1:{listener.port}/MsgHead-v1_2.xsd".encode()
    )
    status, _, _ = await post_kith(gateway, body)
    assert status == 200
    assert listener.contacts == 0


async def test_an_xinclude_is_not_processed(gateway: Client) -> None:
    """An XInclude of /etc/passwd is just an unexpected element: T02, nothing included."""
    body = example("Dialogmelding_svar_foresporsel_PLO_v1-0.xml").replace(
        b"<MsgInfo>",
        b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd" parse="text"/>'
        b"<MsgInfo>",
    )
    status, content_type, answer = await post_kith(gateway, body)
    assert (status, content_type) == (422, "application/xml") and b"root:" not in answer
    assert apprec_fields(answer)["errors"] == ["T02"]


async def test_a_body_over_the_size_limit_is_refused(gateway: Client) -> None:
    """A body over max_body_bytes is refused with 413 and a too-large problem, and the gateway answers on."""
    limit = gateway.settings.max_body_bytes
    body = b'<?xml version="1.0"?><MsgHead xmlns="http://www.kith.no/xmlstds/msghead/2006-05-24">'
    body += b"<!-- padding -->" * (limit // 16 + 1) + b"</MsgHead>"
    status, problem, elapsed = await refused(gateway, body)
    assert status == 413 and problem["errors"][0]["kind"] == "too-large" and elapsed < 5.0


def test_the_parser_enforces_its_own_size_limit() -> None:
    """The adapter refuses a document over its limit before parsing, whatever door it came through."""
    with pytest.raises(InputRejected) as caught:
        safe_xml.parse(b"<a>" + b"x" * 2000 + b"</a>", max_bytes=1000)
    assert caught.value.problems[0].kind == "too-large"


async def test_deep_nesting_is_refused_quickly(gateway: Client) -> None:
    """A hundred thousand nested elements hit the parser's depth limit (huge_tree off): T01, fast."""
    body = b"<a>" * 100_000 + b"</a>" * 100_000
    status, problem, elapsed = await refused(gateway, body)
    assert status == 400 and problem["errors"][0]["apprec"] == "T01" and elapsed < 1.0


async def test_a_foreign_root_is_refused_as_unsupported(gateway: Client) -> None:
    """A well-formed document whose root is neither AppRec nor MsgHead is T10, as problem details."""
    status, problem, _ = await refused(gateway, b'<Bundle xmlns="http://hl7.org/fhir"/>')
    assert status == 422 and problem["errors"][0]["apprec"] == "T10"
