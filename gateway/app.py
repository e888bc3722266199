"""The composition root: builds every part from Settings, for `gateway serve` and the tests alike."""

from __future__ import annotations

import asyncio
import gc
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import structlog
from aiohttp import web

from adapters.kith.xsd import KithSchemas
from gateway.clock import Clock, SystemClock
from gateway.compliance.rates import load_rates
from gateway.compliance.service import Compliance
from gateway.compliance.watcher import DeadlineWatcher, WatcherSettings
from gateway.config import Settings
from gateway.delivery.pull import NewMessages
from gateway.delivery.webhooks import DEFAULT_SCHEDULE, Deliverer, DeliverySettings
from gateway.directory.embedded import EmbeddedDirectory, entries_from_file
from gateway.http.compliance import COMPLIANCE
from gateway.http.compliance import add_routes as add_compliance_routes
from gateway.http.correlation import correlation
from gateway.http.kith import KITH_INTAKE
from gateway.http.kith import add_routes as add_kith_routes
from gateway.http.receipts import METRICS, RECEIPT_DEADLINE
from gateway.http.receipts import add_routes as add_receipt_routes
from gateway.http.routes import INTAKE, MAX_BODY, STORE, add_routes
from gateway.http.stays import add_routes as add_stay_routes
from gateway.http.subscriptions import CLOCK, DELIVERER, NEW_MESSAGES
from gateway.http.subscriptions import add_routes as add_subscription_routes
from gateway.intake.kith import KithIntake
from gateway.intake.mllp import start_mllp_server
from gateway.intake.service import Intake
from gateway.intake.validators import ValidatorPool
from gateway.pipeline.processor import Outcome, Pipeline
from gateway.privacy import Pseudonymizer
from gateway.protection.keys import load_or_create
from gateway.rules.packs import RuleBook, load_packs
from gateway.store.sqlite import SqliteStore

log = structlog.get_logger("app")
WATCHER = web.AppKey("watcher", DeadlineWatcher)


@dataclass
class Parts:
    settings: Settings
    store: SqliteStore
    directory: EmbeddedDirectory
    pipeline: Pipeline
    intake: Intake
    clock: Clock
    validator: ValidatorPool | None
    kith: KithIntake

    async def close(self) -> None:
        await self.store.close()
        if self.validator is not None:
            await self.validator.close()


async def build_parts(settings: Settings, clock: Clock | None = None) -> Parts:
    clock = clock or SystemClock()
    # inbound KITH XML is validated against the official schemas: a broken folder stops the start
    schemas = KithSchemas(settings.kith_schema_dir)
    store = SqliteStore(settings.database)
    await store.start()
    # The directory file is loaded into the store, then served from the stored copy, so what
    # routing used is in the database beside the messages it produced.
    await store.replace_directory(entries_from_file(settings.directory))
    directory = EmbeddedDirectory(await store.read(lambda r: r.directory_entries()))
    rules = RuleBook(load_packs(settings.rule_pack_paths))  # a bad pack stops the start: PackError
    pipeline = Pipeline(directory, directory, Pseudonymizer.from_data_dir(settings.data_dir), rules)
    validator = ValidatorPool(settings.validation_workers) if settings.validation_workers > 0 else None
    if validator is not None:
        await validator.start()
    kith = KithIntake(store, clock, schemas, pipeline.pseudonym, settings.max_body_bytes)
    intake = Intake(store, pipeline, clock, validator)
    kith.metrics = intake.metrics  # KITH documents count as events in, channel "kith"
    return Parts(settings, store, directory, pipeline, intake, clock, validator, kith)


async def _hl7(intake: Intake, raw: bytes) -> bytes | None:
    reply, _ = await intake.hl7v2_message(raw, "hl7v2-mllp")
    return reply.body or None


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


def delivery_settings(settings: Settings) -> DeliverySettings:
    schedule = [float(x) for x in settings.retry_schedule.split(",") if x.strip()] or list(DEFAULT_SCHEDULE)
    return DeliverySettings(schedule=schedule, timeout=float(settings.delivery_timeout))


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
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[correlation])
    app[MAX_BODY] = settings.max_body_bytes

    async def parts_ctx(app: web.Application) -> AsyncIterator[None]:
        parts = await build_parts(settings, clock)
        try:
            app[COMPLIANCE] = build_compliance(parts)  # a bad rate file stops the start: RateError
        except Exception:
            await parts.close()
            raise
        app[STORE], app[INTAKE], app[KITH_INTAKE] = parts.store, parts.intake, parts.kith
        # Everything built so far lives as long as the process; keeping it out of the cyclic
        # collector's scans is worth ~5 % of intake CPU (docs/PERFORMANCE.md).
        gc.collect()
        gc.freeze()
        log.info("gateway_started", database=str(settings.database.name), directory=settings.directory.name)
        mllp = await start_mllp_server(
            lambda raw, peer: _hl7(parts.intake, raw),
            settings.host,
            settings.mllp_port,
            ssl_context=mllp_tls(settings),
        )
        identity = load_or_create(settings.data_dir, settings.signing_certificate, settings.signing_key)
        deliverer = Deliverer(
            parts.store, parts.clock, delivery_settings(settings), identity, parts.intake.metrics
        )
        app[METRICS] = parts.intake.metrics
        new_messages = NewMessages()

        def after_commit(outcome: Outcome) -> None:
            if outcome.deliveries:  # otherwise nothing new for push; its once-a-second poll stays
                deliverer.wake()
            new_messages.notify()

        parts.intake.after_commit = after_commit
        app[DELIVERER], app[CLOCK], app[NEW_MESSAGES] = deliverer, parts.clock, new_messages
        delivering = asyncio.create_task(deliverer.run(), name="deliverer")
        watcher = DeadlineWatcher(
            parts.store, parts.clock, parts.pipeline.rules, parts.intake.metrics, watcher_settings(settings)
        )
        app[WATCHER] = watcher
        watching = asyncio.create_task(watcher.run(), name="deadline-watcher")
        yield
        watcher.stop()
        deliverer.stop()
        for name, task in (("deadline_watcher", watching), ("deliverer", delivering)):
            try:
                async with asyncio.timeout(10):
                    await task
            except TimeoutError:
                log.warning(f"{name}_stop_timeout")
        mllp.close()
        await mllp.wait_closed()
        await parts.close()

    app.cleanup_ctx.append(parts_ctx)
    add_routes(app)
    add_subscription_routes(app)
    add_receipt_routes(app)
    add_stay_routes(app)
    add_kith_routes(app)
    add_compliance_routes(app)
    app[RECEIPT_DEADLINE] = float(settings.receipt_deadline_hours)
    return app
