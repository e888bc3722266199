"""Settings: defaults, then a TOML config file, then GATEWAY_* environment, then the command line."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from gateway.directory.embedded import DEMO_DIRECTORY
from gateway.store.engines import engine_of

# the official KITH schemas shipped with the gateway, byte for byte (schemas/kith-xsd/SOURCES.md)
KITH_SCHEMAS = Path(__file__).resolve().parents[1] / "schemas" / "kith-xsd"
NATIONAL_RULES = Path(__file__).resolve().parents[1] / "schemas" / "rules" / "national.yaml"
WAITING_DAY_RATES = Path(__file__).resolve().parents[1] / "schemas" / "waiting-day-rates.yaml"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    mllp_port: int = 2575
    data_dir: Path = Path("data")
    # "" = SQLite in data_dir; postgresql://user:pass@host/db = PostgreSQL, which several instances
    # can share (docs/POSTGRESQL.md). Instances sharing a database share data_dir's key files too.
    database_url: str = ""
    directory: Path = DEMO_DIRECTORY
    max_body_bytes: int = 5 * 1024 * 1024
    http_idle_timeout: int = 15  # seconds an HTTP connection may sit without completing a request
    request_body_timeout: int = 30  # seconds for a request body to arrive in full
    log_level: str = "info"
    retry_schedule: str = ""  # webhook retry delays in seconds, comma-separated; "" = the default ≈ 3 days
    delivery_timeout: int = 10  # seconds per webhook request
    delivery_per_subscriber: int = 32  # webhook requests in flight to one subscription, at most
    delivery_lease_seconds: int = 60  # a claimed delivery is another instance's to take after this
    # webhook attempts claimed and not yet settled, at most: a backlog waits in the database
    delivery_in_flight: int = 256
    receipt_deadline_hours: int = 96  # no receipt by then = not received (HIS 80415)
    # original-mode HL7 v2 ACK: "processed" (after processing, with the rules' findings in ERR) or
    # "stored" (once the message is durable, as the accept acknowledgement of enhanced mode always is)
    hl7_original_ack: str = "processed"
    inbox_max_backlog: int = 20_000  # events stored and waiting for processing (the inbox), at most
    mllp_tls_cert: Path | None = None  # PEM; with mllp_tls_key, MLLP speaks TLS
    mllp_tls_key: Path | None = None
    mllp_tls_client_ca: Path | None = None  # PEM; when set, a client certificate from this CA is required
    signing_certificate: Path | None = None  # PEM; unset = a development pair made in data_dir
    signing_key: Path | None = None
    validation_workers: int = 1  # processes for FHIR model validation; 0 = on the event loop
    render_workers: int = 1  # processes rendering KITH XML for delivery; 0 = on the event loop
    signing_workers: int = 1  # processes making the CMS signatures of deliveries; 0 = on the event loop
    # the official XSDs every KITH message in and out is validated against; "" = none (warned at start)
    kith_schema_dir: Path | None = KITH_SCHEMAS
    # Authentication (docs/SECURITY.md). "jwt" needs the issuer, audience and JWKS URL below;
    # "development" runs the gateway's own issuer (key in data_dir; `gateway token` mints).
    auth_mode: str = "jwt"
    auth_issuer: str = ""
    auth_audience: str = ""
    auth_jwks_url: str = ""
    auth_client_id_claim: str = "client_id"
    auth_her_id_claim: str = "her_id"  # HER-id(s) of the caller's organisation
    auth_org_number_claim: str = "org_no"  # organisation number(s), e.g. HelseID's orgnr_parent claim
    auth_scope_claim: str = "scope"
    rate_limit_per_second: int = 100  # per client id; 0 = no limit
    rate_limit_burst: int = 500
    # encryption at rest: a key file ("key-id base64-key" lines, the first encrypts); unset = off,
    # except in development mode, where data_dir/payload.keys is made on first start
    payload_keys: Path | None = None
    payload_encryption: str = "auto"  # auto = as above; off = never (e.g. to measure its cost)
    mllp_client_senders: Path | None = None  # YAML: client certificate CN -> the institution's HER-id
    # handover rule packs (docs/RULES.md), comma-separated; a pack brings what it extends; "" = none
    rule_packs: str = str(NATIONAL_RULES)
    # the deadline watcher and waiting days (docs/COMPLIANCE.md)
    watch_interval_seconds: int = 60  # how often the timing rules are evaluated
    escalation_margin_minutes: int = 120  # a held message this close to its deadline is escalated
    watch_lookback_days: int = 14  # stays untouched for longer (and with nothing open) are not watched
    # rate files, comma-separated: the shipped table first; a later file adds years
    waiting_day_rates: str = str(WAITING_DAY_RATES)

    @property
    def database(self) -> Path:
        return self.data_dir / "gateway.sqlite"

    @property
    def waiting_day_rate_paths(self) -> list[Path]:
        return [Path(p.strip()) for p in self.waiting_day_rates.split(",") if p.strip()]

    @property
    def rule_pack_paths(self) -> list[Path]:
        return [Path(p.strip()) for p in self.rule_packs.split(",") if p.strip()]


class ConfigError(Exception):
    pass


def check_database(settings: Settings) -> None:
    try:
        engine_of(settings.database_url)
    except ValueError as exc:
        raise ConfigError(f"setting 'database_url': {exc}") from None


def check_security(settings: Settings) -> None:
    """Refuse to start with authentication half-configured: nothing insecure by default."""
    if settings.auth_mode == "development":
        return
    if settings.auth_mode != "jwt":
        raise ConfigError(f"setting 'auth_mode': must be 'jwt' or 'development', not {settings.auth_mode!r}")
    missing = [n for n in ("auth_issuer", "auth_audience", "auth_jwks_url") if not getattr(settings, n)]
    if missing:
        raise ConfigError(
            f"auth_mode 'jwt' needs {', '.join(missing)} (or run with auth_mode = 'development' locally)"
        )
    if not settings.auth_jwks_url.startswith("https://") and not settings.auth_jwks_url.startswith(
        ("http://127.0.0.1", "http://localhost")
    ):
        raise ConfigError("setting 'auth_jwks_url': must be https:// (or loopback http for tests)")


def _coerce(name: str, value: Any) -> Any:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    try:
        if kind in ("int", int):
            return int(value)
        if kind in ("Path | None",) and value == "":
            return None
        if kind in ("Path", Path, "Path | None"):
            return Path(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"setting '{name}': cannot use {value!r}") from None


def load_settings(
    config_file: Path | None = None,
    env: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    env = dict(os.environ) if env is None else env
    names = {f.name for f in fields(Settings)}
    values: dict[str, Any] = {}
    config_file = config_file or (Path(env["GATEWAY_CONFIG"]) if env.get("GATEWAY_CONFIG") else None)
    if config_file is not None:
        try:
            data = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"config file {config_file}: {exc}") from None
        section = data.get("gateway", data)
        unknown = set(section) - names
        if unknown:
            raise ConfigError(f"config file {config_file}: unknown settings {sorted(unknown)}")
        values.update({k: _coerce(k, v) for k, v in section.items()})
    for name in names:
        if (raw := env.get(f"GATEWAY_{name.upper()}")) is not None:
            values[name] = _coerce(name, raw)
    values.update({k: _coerce(k, v) for k, v in (overrides or {}).items() if v is not None})
    return replace(Settings(), **values)
