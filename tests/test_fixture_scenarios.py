"""The scenario folders in fixtures/messages replay through real HTTP to the outcome they describe."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Client

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "messages"


async def replay(gateway: Client, scenario: str) -> None:
    for path in sorted((FIXTURES / scenario).glob("*.json")):
        status, response = await gateway.post_event(path.read_bytes())
        assert status == 200, (path.name, response)


async def test_discharge_home_with_medication_changes(gateway: Client) -> None:
    await replay(gateway, "discharge-home-with-medication-changes")

    async def kinds(her: str) -> list[str]:
        return [e["messageType"] for e in await gateway.feed(her)]

    assert await kinds("8100011") == [
        "LOG_INNLAGT",
        "LOG_UTSKREVET",
        "LEGEMIDDELLISTE",
        "UTSKRIVNINGSRAPPORT",
    ]
    assert await kinds("8100012") == ["HELSEOPPL_SOKNAD", "LOG_UTSKRIVNINGSKLAR"]
    assert await kinds("8200011") == [
        "DIALOG_NOTAT",
        "LEGEMIDDELLISTE",
        "DIALOG_NOTAT",
        "UTSKRIVNINGSRAPPORT",
    ]
