"""Stored patient data is encrypted at rest (AES-GCM, key id, each value bound to its row) and
the service reads it back transparently; keys rotate by putting a new key first."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import Settings
from gateway.store.cipher import MAGIC, CipherError, NoCipher, load_keys, new_key_line
from tests import builders as b
from tests import raw_store
from tests.conftest import Client, running, settings_for

COLUMNS = [
    ("inbound", "body"),
    ("stays", "state"),
    ("stay_events", "resources"),
    ("outbound", "payload"),
]


def _raw_values(settings: Settings) -> dict[str, list[bytes]]:
    return {
        f"{table}.{column}": [
            v if isinstance(v, bytes) else str(v).encode()
            for (v,) in raw_store.rows(settings, f"SELECT {column} FROM {table}")
        ]
        for table, column in COLUMNS
    }


async def test_patient_data_is_not_in_the_database_file_but_the_api_reads_it(gateway: Client) -> None:
    """With development keys, no column holding patient data has the name or person number in
    clear, every value carries the encryption header, and the message still reads as sent."""
    # a person the demo directory's stand-in fastlegeregister does not list (its table is not patient data)
    patient = b.patient(person=b.FNR_NO_GP, given="Åsmund", family="Særbøe")
    await gateway.post_event(b.message("A01", patient, b.encounter("E1")))
    await gateway.post_event(b.message("A03", patient, b.encounter("E1")))
    values = _raw_values(gateway.settings)
    for column, rows in values.items():
        assert rows, column
        # a new stay's placeholder state ('{}') is written before the first event fills it
        assert all(v.startswith(MAGIC) for v in rows if v != b"{}"), column
    everything = b"".join(v for rows in values.values() for v in rows)
    whole_file = raw_store.stored_bytes(gateway.settings)  # SQLite: + WAL; PostgreSQL: after a checkpoint
    for secret in ("Særbøe".encode(), "Åsmund".encode(), b.FNR_NO_GP.encode()):
        assert secret not in everything
        assert secret not in whole_file
    bundle = (await gateway.messages("8100011"))[0]
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    assert patient["name"][0]["family"] == "Særbøe"


def test_a_value_moved_to_another_row_or_altered_does_not_decrypt(tmp_path: Path) -> None:
    """Associated data binds each value to its row; a flipped bit fails the tag."""
    keys = tmp_path / "keys"
    keys.write_text(new_key_line("k1") + "\n")
    cipher = load_keys(keys)
    sealed = cipher.seal(b'{"name": "Kari"}', "outbound.payload|m1")
    assert cipher.open(sealed, "outbound.payload|m1") == b'{"name": "Kari"}'
    with pytest.raises(CipherError):
        cipher.open(sealed, "outbound.payload|m2")
    with pytest.raises(CipherError):
        cipher.open(sealed[:-1] + bytes([sealed[-1] ^ 1]), "outbound.payload|m1")
    with pytest.raises(CipherError, match="no payload key"):
        NoCipher().open(sealed, "outbound.payload|m1")
    assert NoCipher().open(b"plain", "x") == b"plain" and cipher.open(b"plain", "x") == b"plain"


async def test_rotation_new_key_first_old_rows_still_read(tmp_path: Path) -> None:
    """Rows written under k1 read after k2 is put first in the key file; new rows use k2; and
    without k1 in the file the old rows are refused, not misread."""
    keys = tmp_path / "payload.keys"
    keys.write_text(new_key_line("k1") + "\n")
    settings = settings_for(tmp_path, payload_keys=keys)
    async with running(settings) as gw:
        await gw.post_event(b.message("A01", b.patient(), b.encounter("R1")))
    old = keys.read_text()
    keys.write_text(new_key_line("k2") + "\n" + old)
    async with running(settings) as gw:
        await gw.post_event(b.message("A01", b.patient(), b.encounter("R2")))
        assert len(await gw.messages("8100011")) == 2
    kids = {v[len(MAGIC) + 1 : len(MAGIC) + 3] for v in _raw_values(settings)["outbound.payload"]}
    assert kids == {b"k1", b"k2"}
    keys.write_text(keys.read_text().splitlines()[0] + "\n")  # k1 dropped too early
    async with running(settings) as gw:
        entries = await gw.feed("8100011")
        async with gw.session.get(gw.base + entries[0]["href"]) as resp:
            assert resp.status == 500  # refused loudly, never served garbled
        async with gw.session.get(gw.base + entries[1]["href"]) as resp:
            assert resp.status == 200
