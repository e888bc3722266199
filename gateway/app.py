"""The composition root: builds every part from Settings, for `gateway serve` and the tests alike."""

from __future__ import annotations

import asyncio
import gc
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import structlog
import yaml
from aiohttp import web

from adapters.kith.xsd import KithSchemas
from gateway.auth.from_settings import add_dev_routes, build_verifier
from gateway.auth.middleware import RATE_LIMITER, VERIFIER, authenticate
from gateway.auth.ratelimit import RateLimiter
from gateway.clock import Clock, SystemClock
from gateway.compliance.rates import load_rates
from gateway.compliance.service import Compliance
from gateway.compliance.watcher import DeadlineWatcher, WatcherSettings
from gateway.config import ConfigError, Settings, check_database, check_security
from gateway.delivery.cms_signer import CmsSigner, SignerPool
from gateway.delivery.pull import NewMessages
from gateway.delivery.webhooks import DEFAULT_SCHEDULE, Deliverer, DeliverySettings
from gateway.directory.embedded import EmbeddedDirectory, entries_from_file
from gateway.http.audit import AUDITOR, Auditor
from gateway.http.audit import add_routes as add_audit_routes
from gateway.http.compliance import COMPLIANCE
from gateway.http.compliance import add_routes as add_compliance_routes
from gateway.http.correlation import correlation
from gateway.http.kith import KITH_INTAKE
from gateway.http.kith import add_routes as add_kith_routes
from gateway.http.limits import BODY_TIMEOUT, body_deadline
from gateway.http.receipts import METRICS, RECEIPT_DEADLINE
from gateway.http.receipts import add_routes as add_receipt_routes
from gateway.http.routes import INTAKE, KITH, MAX_BODY, STORE, add_routes
from gateway.http.stays import add_routes as add_stay_routes
from gateway.http.subscriptions import CLOCK, DELIVERER, DIRECTORY, NEW_MESSAGES
from gateway.http.subscriptions import add_routes as add_subscription_routes
from gateway.intake.inbox import Inbox
from gateway.intake.kith import KithIntake
from gateway.intake.mllp import Peer, start_mllp_server
from gateway.intake.mllp import Reply as AckReply
from gateway.intake.service import Intake
from gateway.intake.validators import ValidatorPool
from gateway.pipeline.processor import Outcome, Pipeline
from gateway.privacy import Pseudonymizer
from gateway.protection.keys import identity_files, load_or_create
from gateway.render.kith_output import KithOutput, RenderPool
from gateway.rules.packs import RuleBook, load_packs
from gateway.store.base import Store
from gateway.store.cipher import Cipher, NoCipher, dev_key_file, load_keys
from gateway.store.engines import engine_of, open_store

log = structlog.get_logger("app")
WATCHER = web.AppKey("watcher", DeadlineWatcher)


@dataclass
class Parts:
    settings: Settings
    store: Store
    directory: EmbeddedDirectory
    pipeline: Pipeline
    intake: Intake
    clock: Clock
    validator: ValidatorPool | None
    kith: KithIntake
    schemas: KithSchemas | None
    renderer: RenderPool | None

    async def close(self) -> None:
        await self.store.close()
        for pool in (self.validator, self.renderer):
            if pool is not None:
                await pool.close()


def payload_cipher(settings: Settings) -> Cipher:
    """Encryption at rest: the configured key file; a made one in development mode; else off."""
    if settings.payload_encryption not in ("auto", "off"):
        raise ConfigError("setting 'payload_encryption': must be 'auto' or 'off'")
    path = settings.payload_keys if settings.payload_encryption != "off" else None
    made = settings.data_dir / "payload.keys"
    if path is None and settings.payload_encryption != "off":
        # development mode makes the key; any later reader of that data dir (e.g. `gateway report`,
        # whatever mode it runs in) must use the key the data was written with
        if settings.auth_mode == "development":
            path = dev_key_file(settings.data_dir)
        elif made.exists():
            path = made
    if path is None:
        log.warning("payload_encryption_off", note="set payload_keys to encrypt stored patient data")
        return NoCipher()
    try:
        return load_keys(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"payload_keys: {exc}") from None


async def build_parts(settings: Settings, clock: Clock | None = None) -> Parts:
    clock = clock or SystemClock()
    # KITH XML in and out is validated against the official schemas, compiled once: a broken folder
    # stops the start; no folder at all is allowed, and said (nothing KITH is then validated)
    schemas = KithSchemas(settings.kith_schema_dir) if settings.kith_schema_dir else None
    if schemas is None:
        log.warning("kith_not_validated", reason="no kith_schema_dir configured")
    check_database(settings)
    store = open_store(settings.database_url, settings.database, payload_cipher(settings))
    await store.start()
    # The directory file is loaded into the store, then served from the stored copy, so what
    # routing used is in the database beside the messages it produced.
    entries = entries_from_file(settings.directory)
    await store.write(lambda tx: tx.replace_directory(entries))
    directory = EmbeddedDirectory(await store.read(lambda r: r.directory_entries()))
    rules = RuleBook(load_packs(settings.rule_pack_paths))  # a bad pack stops the start: PackError
    pipeline = Pipeline(directory, directory, Pseudonymizer.from_data_dir(settings.data_dir), rules)
    validator = ValidatorPool(settings.validation_workers) if settings.validation_workers > 0 else None
    renderer = (
        RenderPool(settings.render_workers, settings.kith_schema_dir) if settings.render_workers > 0 else None
    )
    for pool in (validator, renderer):
        if pool is not None:
            await pool.start()
    kith = KithIntake(store, clock, schemas, pipeline.pseudonym, settings.max_body_bytes)
    if settings.hl7_original_ack not in ("processed", "stored"):
        raise ConfigError("setting 'hl7_original_ack': must be 'processed' or 'stored'")
    inbox = Inbox(store, pipeline, settings.inbox_max_backlog, validator)
    intake = Intake(store, pipeline, clock, inbox, validator, settings.hl7_original_ack == "stored")
    inbox.on_drained = intake.drained
    kith.metrics = intake.metrics  # KITH documents count as events in, channel "kith"
    return Parts(settings, store, directory, pipeline, intake, clock, validator, kith, schemas, renderer)


def mllp_senders(settings: Settings) -> dict[str, str] | None:
    """Client certificate CN -> the sending institution's HER-id, when configured (needs mutual TLS)."""
    if settings.mllp_client_senders is None:
        return None
    try:
        data = yaml.safe_load(settings.mllp_client_senders.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"mllp_client_senders: cannot read ({type(exc).__name__})") from None
    if not isinstance(data, dict) or not all(str(v).isdigit() for v in data.values()):
        raise ConfigError("mllp_client_senders: expected a mapping of certificate CN to HER-id")
    if not settings.mllp_tls_client_ca:
        raise ConfigError("mllp_client_senders needs mutual TLS (mllp_tls_client_ca)")
    return {str(k): str(v) for k, v in data.items()}


def _hl7(parts: Parts, senders: dict[str, str] | None, raw: bytes, peer: Peer, reply: AckReply) -> None:
    may_send = None
    if senders is not None:  # the connection was admitted, so the CN is mapped
        owned = parts.directory.owned_her_ids([senders[peer.common_name or ""]], [])
        may_send = owned.__contains__
    parts.intake.hl7v2(raw, "hl7v2-mllp", may_send, lambda answer: reply(answer.body or None))


def mllp_tls(settings: Settings) -> ssl.SSLContext | None:
    """TLS for MLLP when a certificate is configured; mutual TLS when a client CA is too."""
    if not (settings.mllp_tls_cert and settings.mllp_tls_key):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.mllp_tls_cert, settings.mllp_tls_key)
    if settings.mllp_tls_client_ca:
        context.load_verify_locations(settings.mllp_tls_client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def server_options(settings: Settings) -> dict[str, float]:
    """Options for aiohttp's server: how long a connection may sit before completing a request."""
    return {"keepalive_timeout": float(settings.http_idle_timeout)}


def delivery_settings(settings: Settings) -> DeliverySettings:
    schedule = [float(x) for x in settings.retry_schedule.split(",") if x.strip()] or list(DEFAULT_SCHEDULE)
    return DeliverySettings(
        schedule=schedule,
        timeout=float(settings.delivery_timeout),
        lease=float(max(settings.delivery_lease_seconds, settings.delivery_timeout + 1)),
        per_subscriber=max(1, settings.delivery_per_subscriber),
        in_flight=max(1, settings.delivery_in_flight),
    )


def watcher_settings(settings: Settings) -> WatcherSettings:
    return WatcherSettings(
        interval=float(settings.watch_interval_seconds),
        margin=timedelta(minutes=settings.escalation_margin_minutes),
        lookback=timedelta(days=settings.watch_lookback_days),
    )


def build_compliance(parts: Parts) -> Compliance:
    rates = load_rates(parts.settings.waiting_day_rate_paths)
    return Compliance(
        parts.store, parts.pipeline.rules, rates, parts.clock, float(parts.settings.receipt_deadline_hours)
    )


def build_app(settings: Settings, clock: Clock | None = None) -> web.Application:
    check_security(settings)  # refuse to build a gateway with authentication half-configured
    senders = mllp_senders(settings)
    app = web.Application(
        client_max_size=settings.max_body_bytes, middlewares=[correlation, authenticate, body_deadline]
    )
    app[MAX_BODY] = settings.max_body_bytes
    app[BODY_TIMEOUT] = float(settings.request_body_timeout)
    app[RATE_LIMITER] = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)

    async def parts_ctx(app: web.Application) -> AsyncIterator[None]:
        parts = await build_parts(settings, clock)
        try:
            app[COMPLIANCE] = build_compliance(parts)  # a bad rate file stops the start: RateError
        except Exception:
            await parts.close()
            raise
        app[STORE], app[INTAKE], app[KITH_INTAKE] = parts.store, parts.intake, parts.kith
        app[VERIFIER] = build_verifier(settings, parts.directory)
        app[AUDITOR] = Auditor(parts.store, parts.clock)
        # Everything built so far lives as long as the process; keeping it out of the cyclic
        # collector's scans is worth ~5 % of intake CPU (docs/PERFORMANCE.md).
        gc.collect()
        gc.freeze()
        log.info(
            "gateway_started", database=engine_of(settings.database_url), directory=settings.directory.name
        )
        mllp = await start_mllp_server(
            lambda raw, peer, reply: _hl7(parts, senders, raw, peer, reply),
            settings.host,
            settings.mllp_port,
            ssl_context=mllp_tls(settings),
            admit=None if senders is None else (lambda peer: peer.common_name in senders),
        )
        identity = load_or_create(settings.data_dir, settings.signing_certificate, settings.signing_key)
        signer = CmsSigner(identity)
        if settings.signing_workers > 0:
            files = identity_files(settings.data_dir, settings.signing_certificate, settings.signing_key)
            signer.pool = SignerPool(settings.signing_workers, *files)
            await signer.pool.start()
        kith = KithOutput(parts.store, parts.clock, parts.schemas, parts.intake.metrics, parts.renderer)
        app[KITH], app[DIRECTORY] = kith, parts.directory
        deliverer = Deliverer(
            parts.store,
            parts.clock,
            delivery_settings(settings),
            signer,
            parts.intake.metrics,
            kith,
            claimant=f"{socket.gethostname()}:{settings.port}",
        )
        app[METRICS] = parts.intake.metrics
        new_messages = NewMessages()

        def after_commit(outcome: Outcome) -> None:
            if outcome.deliveries:  # otherwise nothing new for push; its once-a-second poll stays
                deliverer.wake()
            new_messages.notify()

        parts.intake.after_commit = after_commit

        def other_instance_queued() -> None:  # PostgreSQL: NOTIFY from any instance sharing the database
            deliverer.wake()
            new_messages.notify()

        parts.store.on_work(other_instance_queued)
        app[DELIVERER], app[CLOCK], app[NEW_MESSAGES] = deliverer, parts.clock, new_messages
        delivering = asyncio.create_task(deliverer.run(), name="deliverer")
        watcher = DeadlineWatcher(
            parts.store, parts.clock, parts.pipeline.rules, parts.intake.metrics, watcher_settings(settings)
        )
        app[WATCHER] = watcher
        watching = asyncio.create_task(watcher.run(), name="deadline-watcher")
        inbox = parts.intake.inbox
        draining = asyncio.create_task(inbox.run(), name="inbox")
        yield
        mllp.close()  # no new messages while the rest stops
        inbox.stop()
        watcher.stop()
        deliverer.stop()
        for name, task in (("inbox", draining), ("deadline_watcher", watching), ("deliverer", delivering)):
            try:
                async with asyncio.timeout(10):
                    await task
            except TimeoutError:
                log.warning(f"{name}_stop_timeout")
        await mllp.wait_closed()
        if signer.pool is not None:
            await signer.pool.close()
        await parts.close()

    app.cleanup_ctx.append(parts_ctx)
    add_routes(app)
    add_subscription_routes(app)
    add_receipt_routes(app)
    add_stay_routes(app)
    add_kith_routes(app)
    add_audit_routes(app)
    add_dev_routes(app, settings)
    add_compliance_routes(app)
    app[RECEIPT_DEADLINE] = float(settings.receipt_deadline_hours)
    return app
