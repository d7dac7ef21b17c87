"""``--web.config.file``: TLS, client certificates and basic auth, in the exporter-toolkit format.

The file is the one every Prometheus exporter reads (``promtool check
web-config`` accepts it): ``tls_server_config`` (``cert_file``, ``key_file``,
``client_auth_type``, ``client_ca_file``, ``min_version``, ``max_version``),
``http_server_config.headers`` and ``basic_auth_users`` (bcrypt hashes).
Relative file names are relative to the file's folder. Options of the format
this exporter does not implement are refused by name rather than ignored, so
a config never promises a protection it does not get. The file is read once,
at start.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from sms_delivery_exporter.config import format_validation_error

ClientAuth = Literal[
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
]
TlsVersion = Literal["TLS10", "TLS11", "TLS12", "TLS13"]
_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
_VERIFY = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_HEADERS = frozenset(
    {
        "Content-Security-Policy",
        "X-Frame-Options",
        "X-Content-Type-Options",
        "X-XSS-Protection",
        "Strict-Transport-Security",
    }
)
_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")


class WebConfigError(Exception):
    """The web config is unusable; ``problems`` names each mistake by its key."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.path = path
        self.problems = problems


def _unsupported(model: BaseModel, names: tuple[str, ...], why: str) -> None:
    given = [name for name in names if getattr(model, name) not in (None, [], {})]
    if given:
        raise ValueError(f"{', '.join(given)}: not supported by this exporter ({why}); remove it")


class TlsServerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cert_file: Path | None = None
    key_file: Path | None = None
    client_auth_type: ClientAuth = "NoClientCert"
    client_ca_file: Path | None = None
    min_version: TlsVersion = "TLS12"
    max_version: TlsVersion = "TLS13"
    prefer_server_cipher_suites: bool = True
    # Part of the format, not implemented here: refused by name.
    cert: str | None = None
    key: SecretStr | None = None
    client_ca: str | None = None
    client_allowed_sans: list[str] | None = None
    cipher_suites: list[str] | None = None
    curve_preferences: list[str] | None = None

    @model_validator(mode="after")
    def _usable(self) -> TlsServerConfig:
        _unsupported(self, ("cert", "key", "client_ca"), "give cert_file, key_file, client_ca_file")
        _unsupported(self, ("client_allowed_sans",), "use a client CA of its own")
        _unsupported(self, ("cipher_suites", "curve_preferences"), "OpenSSL's defaults are used")
        if self.cert_file is None or self.key_file is None:
            raise ValueError("cert_file and key_file are both needed")
        if self.client_auth_type not in _VERIFY:
            raise ValueError(
                f"client_auth_type {self.client_auth_type} accepts certificates nobody verified:"
                " use RequireAndVerifyClientCert (or VerifyClientCertIfGiven)"
            )
        if self.client_auth_type != "NoClientCert" and self.client_ca_file is None:
            raise ValueError(f"client_auth_type {self.client_auth_type} needs client_ca_file")
        if _VERSIONS[self.min_version] > _VERSIONS[self.max_version]:
            raise ValueError("min_version is above max_version")
        return self


class HttpServerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    http2: bool = Field(True, description="accepted; the exporter serves HTTP/1.1")
    headers: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_headers(self) -> HttpServerConfig:
        unknown = sorted(set(self.headers) - _HEADERS)
        if unknown:
            raise ValueError(
                f"headers: {', '.join(unknown)} cannot be set (only {sorted(_HEADERS)})"
            )
        return self


class WebConfig(BaseModel):
    """The web config file."""

    model_config = ConfigDict(extra="forbid")

    tls_server_config: TlsServerConfig | None = None
    http_server_config: HttpServerConfig = Field(default_factory=HttpServerConfig)
    basic_auth_users: dict[str, SecretStr] = Field(default_factory=dict)
    rate_limit: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _usable(self) -> WebConfig:
        _unsupported(self, ("rate_limit",), "the intake and the connection cap bound the load")
        for user, hashed in self.basic_auth_users.items():
            value = hashed.get_secret_value()
            if not (value.startswith(_BCRYPT_PREFIXES) and len(value) == 60):
                raise ValueError(f"basic_auth_users.{user}: not a bcrypt hash ($2y$..., 60 chars)")
        return self

    @property
    def tls(self) -> bool:
        return self.tls_server_config is not None


def load_web_config(path: Path) -> WebConfig:
    """Read and check the file, and load its certificates once to be sure they work."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise WebConfigError(path, [f"cannot read the web config: {exc.strerror}"]) from None
    except yaml.YAMLError:
        raise WebConfigError(path, ["not valid YAML"]) from None
    try:
        config = WebConfig.model_validate(raw or {})
    except ValidationError as exc:
        raise WebConfigError(path, format_validation_error(exc)) from None
    tls = config.tls_server_config
    if tls is not None:
        base = path.parent
        update: dict[str, Path] = {}
        for name in ("cert_file", "key_file", "client_ca_file"):
            value = getattr(tls, name)
            if value is not None and not value.is_absolute():
                update[name] = base / value
        config = config.model_copy(update={"tls_server_config": tls.model_copy(update=update)})
        ssl_context(config)
    return config


def ssl_context(config: WebConfig) -> ssl.SSLContext | None:
    """The server's TLS context, or None without ``tls_server_config``."""
    tls = config.tls_server_config
    if tls is None:
        return None
    assert tls.cert_file is not None  # checked by the model
    assert tls.key_file is not None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _VERSIONS[tls.min_version]
    context.maximum_version = _VERSIONS[tls.max_version]
    where = Path("tls_server_config")
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise WebConfigError(
            where,
            [
                f"tls_server_config: cannot load cert_file {tls.cert_file} and key_file"
                f" {tls.key_file}: {getattr(exc, 'strerror', None) or exc.__class__.__name__}"
            ],
        ) from None
    if tls.client_ca_file is not None:
        try:
            context.load_verify_locations(cafile=tls.client_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise WebConfigError(
                where,
                [
                    f"tls_server_config.client_ca_file {tls.client_ca_file}: cannot load it:"
                    f" {getattr(exc, 'strerror', None) or exc.__class__.__name__}"
                ],
            ) from None
    context.verify_mode = _VERIFY[tls.client_auth_type]
    if tls.prefer_server_cipher_suites:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    return context
