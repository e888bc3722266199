"""CMS payload protection end to end: a real webhook, then `gateway verify` as a subscriber runs it."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from standardwebhooks.webhooks import Webhook

from gateway.protection import cms
from gateway.protection.keys import self_signed
from tests import builders as b
from tests.conftest import Client, running, settings_for
from tests.test_delivery import Subscriber, subscribe, until
from tests.worker_procs import worker_pids


def pem(cert: object) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()  # type: ignore[attr-defined]


def key_pem(key: object) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,  # type: ignore[attr-defined]
        serialization.NoEncryption(),
    )


class Capturing(Subscriber):
    def __init__(self) -> None:
        super().__init__()
        self.raw: list[tuple[bytes, dict[str, str]]] = []
        self.decide = lambda req, n: web.Response(status=204)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        Webhook(self.secret).verify(body, dict(request.headers), json_parse=False)  # HMAC over the body sent
        self.raw.append((body, {k.lower(): v for k, v in request.headers.items()}))
        return web.Response(status=204)


def run_verify(
    tmp: Path, body: bytes, signature: str, trust: Path, *extra: str
) -> subprocess.CompletedProcess[bytes]:
    (tmp / "body").write_bytes(body)
    (tmp / "sig").write_text(signature)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "verify",
            "--body",
            str(tmp / "body"),
            "--signature",
            str(tmp / "sig"),
            "--trust",
            str(trust),
            *extra,
        ],
        capture_output=True,
        check=False,
    )


async def test_signed_payload_verifies_and_tampering_is_refused(gateway: Client, tmp_path: Path) -> None:
    sub = Capturing()
    await subscribe(gateway, sub)
    await gateway.post_event(b.message("A01", b.patient(), b.encounter("V1")))
    await until(lambda: len(sub.raw) == 1)
    body, headers = sub.raw[0]
    trust = gateway.settings.data_dir / "dev-signing.crt"
    ok = run_verify(tmp_path, body, headers["gateway-cms-signature"], trust)
    assert ok.returncode == 0 and orjson.loads(ok.stdout)["resourceType"] == "Bundle"
    tampered = run_verify(
        tmp_path, body.replace(b"LOG_INNLAGT", b"LOG_UTSKREV"), headers["gateway-cms-signature"], trust
    )
    assert tampered.returncode == 1 and b"tampered" in tampered.stderr
    other, _ = self_signed("someone else")
    (tmp_path / "other.pem").write_text(pem(other))
    untrusted = run_verify(tmp_path, body, headers["gateway-cms-signature"], tmp_path / "other.pem")
    assert untrusted.returncode == 1 and b"untrusted" in untrusted.stderr


async def test_encrypted_to_the_subscribers_certificate(gateway: Client, tmp_path: Path) -> None:
    cert, key = self_signed("kommune.example", kind="rsa")
    sub = Capturing()
    await subscribe(gateway, sub, certificate=pem(cert))
    await gateway.post_event(b.message("A01", b.patient(), b.encounter("V1")))
    await until(lambda: len(sub.raw) == 1)
    body, headers = sub.raw[0]
    assert headers["content-type"].startswith("application/pkcs7-mime")
    assert b"Nordmann" not in body and b"12034512343" not in body  # nothing readable on the wire
    (tmp_path / "me.pem").write_text(pem(cert))
    (tmp_path / "me.key").write_bytes(key_pem(key))
    trust = gateway.settings.data_dir / "dev-signing.crt"
    ok = run_verify(
        tmp_path,
        body,
        headers["gateway-cms-signature"],
        trust,
        "--decrypt-cert",
        str(tmp_path / "me.pem"),
        "--decrypt-key",
        str(tmp_path / "me.key"),
    )
    assert ok.returncode == 0 and b"Nordmann" in ok.stdout
    wrong_cert, wrong_key = self_signed("not me", kind="rsa")
    (tmp_path / "wrong.pem").write_text(pem(wrong_cert))
    (tmp_path / "wrong.key").write_bytes(key_pem(wrong_key))
    wrong = run_verify(
        tmp_path,
        body,
        headers["gateway-cms-signature"],
        trust,
        "--decrypt-cert",
        str(tmp_path / "wrong.pem"),
        "--decrypt-key",
        str(tmp_path / "wrong.key"),
    )
    assert wrong.returncode == 1 and b"wrong-key" in wrong.stderr


def test_an_expired_signing_certificate_is_refused() -> None:
    cert, key = self_signed("gateway", days=1, start=datetime.now(UTC) - timedelta(days=10))
    signature = cms.sign_detached(b"payload", cert, key)
    with pytest.raises(cms.ProtectionError) as exc:
        cms.verify(b"payload", signature, cert)
    assert exc.value.code == "expired"


async def test_a_subscription_with_an_unusable_certificate_is_refused(gateway: Client) -> None:
    ec_cert, _ = self_signed("ec only")
    for certificate in ("not a certificate", pem(ec_cert)):
        body = {"herIds": ["8100011"], "mode": "pull", "certificate": certificate}
        async with gateway.session.post(gateway.base + "/subscriptions", data=orjson.dumps(body)) as resp:
            assert resp.status == 422


def signing_worker_pids() -> list[int]:
    return worker_pids("gateway.delivery.signing_worker")


async def test_the_signing_worker_signs_and_one_that_dies_is_replaced(tmp_path: Path) -> None:
    async with running(settings_for(tmp_path, signing_workers=1)) as gw:
        sub = Capturing()
        await subscribe(gw, sub)
        trust = x509.load_pem_x509_certificate((gw.settings.data_dir / "dev-signing.crt").read_bytes())
        await gw.post_event(b.message("A01", b.patient(), b.encounter("W1")))
        await until(lambda: len(sub.raw) == 1)
        [first] = signing_worker_pids()
        os.kill(first, signal.SIGKILL)
        await until(lambda: first not in signing_worker_pids())
        await gw.post_event(b.message("A01", b.patient(b.FNR_HAMAR), b.encounter("W2")))
        await until(lambda: len(sub.raw) == 2)
        for body, headers in sub.raw:
            cms.verify(body, base64.b64decode(headers["gateway-cms-signature"]), trust)  # raises if not
        assert len(signing_worker_pids()) == 1 and first not in signing_worker_pids()


class Refusing(Capturing):
    """Captures every attempt and answers `status` (500 until told otherwise)."""

    status = 500

    async def handle(self, request: web.Request) -> web.Response:
        await super().handle(request)
        return web.Response(status=self.status)


async def test_a_retry_sends_the_signature_first_sent_until_the_signing_certificate_changes(
    tmp_path: Path,
) -> None:
    """ECDSA signs differently each time, so the same bytes after a restart can only be the
    signature kept for the message; a new signing certificate makes a new one, kept in turn."""
    settings = settings_for(tmp_path, retry_schedule="0.05")
    sub = Refusing()

    def trusted() -> x509.Certificate:
        return x509.load_pem_x509_certificate((settings.data_dir / "dev-signing.crt").read_bytes())

    async def dead_then_redelivered(gw: Client, sub_id: str, attempts: int) -> None:
        await until(lambda: len(sub.raw) == attempts)
        path = f"/subscriptions/{sub_id}/deliveries?status=dead"
        while not (await gw.get_json(path))[1]["deliveries"]:
            await asyncio.sleep(0.05)
        async with gw.session.post(gw.base + f"/subscriptions/{sub_id}/redeliver") as resp:
            assert (await resp.json())["requeued"] == 1

    async with running(settings) as gw:
        sub_id = await subscribe(gw, sub)
        await gw.post_event(b.message("A01", b.patient(), b.encounter("S1")))
        await dead_then_redelivered(gw, sub_id, 2)  # the first try and one retry
        await until(lambda: len(sub.raw) == 4)  # redelivered: two more
    first = trusted()
    async with running(settings) as gw:  # nothing in memory: only what the store kept
        await dead_then_redelivered(gw, sub_id, 4)
        await until(lambda: len(sub.raw) == 6)
    signatures = [headers["gateway-cms-signature"] for _, headers in sub.raw]
    assert len(set(signatures)) == 1
    for body, headers in sub.raw:
        cms.verify(body, base64.b64decode(headers["gateway-cms-signature"]), first)

    for name in ("dev-signing.crt", "dev-signing.key"):  # a new signing certificate
        (settings.data_dir / name).unlink()
    sub.status = 204
    async with running(settings) as gw:
        await dead_then_redelivered(gw, sub_id, 6)
        await until(lambda: len(sub.raw) == 7)
    renewed = [headers["gateway-cms-signature"] for _, headers in sub.raw[6:]]
    assert renewed[0] != signatures[0]
    body, headers = sub.raw[6]
    cms.verify(body, base64.b64decode(headers["gateway-cms-signature"]), trusted())
