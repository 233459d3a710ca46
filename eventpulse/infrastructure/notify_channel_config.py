"""Each channel type's own keys in the notification config, read into its settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from yaml.nodes import Node

from eventpulse.infrastructure.yaml_nodes import NodeReader

COMMON_KEYS: Final = frozenset(
    {"type", "max_attempts", "backoff_base", "backoff_cap", "timeout", "concurrency"}
)
CHANNEL_KEYS: Final[Mapping[str, frozenset[str]]] = {
    "slack": frozenset({"webhook_url_env"}),
    "email": frozenset(
        {"smtp_host", "smtp_port", "starttls", "tls", "username_env", "password_env"}
        | {"from", "to"}
    ),
    "webhook": frozenset({"url_env", "secret_env"}),
    "log": frozenset(),
}
_REQUIRED: Final[Mapping[str, tuple[str, ...]]] = {
    "slack": ("webhook_url_env",),
    "email": ("smtp_host", "from", "to"),
    "webhook": ("url_env", "secret_env"),
    "log": (),
}
_INLINE_SECRETS: Final = {
    "webhook_url": "webhook_url_env",
    "url": "url_env",
    "secret": "secret_env",
    "username": "username_env",
    "password": "password_env",
}

Keys = dict[str, tuple[Node, Node]]


@dataclass(frozen=True, slots=True)
class SlackSettings:
    webhook_url: str


@dataclass(frozen=True, slots=True)
class EmailSettings:
    host: str
    port: int
    starttls: bool
    tls: bool
    sender: str
    recipients: tuple[str, ...]
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    url: str
    secret: str


@dataclass(frozen=True, slots=True)
class LogSettings:
    pass


ChannelSettings = SlackSettings | EmailSettings | WebhookSettings | LogSettings


def read_channel_settings(
    reader: NodeReader,
    kind: str,
    node: Node,
    keys: Keys,
    where: str,
    environ: Mapping[str, str],
) -> ChannelSettings | None:
    """The settings of one channel of type `kind`; None (problems recorded) when invalid."""
    before = len(reader.problems)
    allowed = COMMON_KEYS | CHANNEL_KEYS[kind]
    for key, (key_node, _) in keys.items():
        if key in _INLINE_SECRETS and key not in allowed:
            message = (
                "secrets are not written in the config: name an environment variable"
                f" with {_INLINE_SECRETS[key]}"
            )
            reader.fail(key_node, f"{where}.{key}", message)
        elif key not in allowed:
            expected = ", ".join(sorted(allowed))
            reader.fail(
                key_node, f"{where}.{key}", f"unknown key for a {kind} channel ({expected})"
            )
    for key in _REQUIRED[kind]:
        if key not in keys:
            reader.fail(node, where, f"missing key: {key}")
    if len(reader.problems) > before:
        return None
    if kind == "slack":
        url = _url(reader, keys["webhook_url_env"][1], f"{where}.webhook_url_env", environ)
        return None if url is None else SlackSettings(url)
    if kind == "webhook":
        url = _url(reader, keys["url_env"][1], f"{where}.url_env", environ)
        secret = reader.env(keys["secret_env"][1], f"{where}.secret_env", environ)
        return None if url is None or secret is None else WebhookSettings(url, secret)
    if kind == "email":
        return _email(reader, node, keys, where, environ)
    return LogSettings()


def _url(reader: NodeReader, node: Node, where: str, environ: Mapping[str, str]) -> str | None:
    url = reader.env(node, where, environ)
    if url is not None and not url.startswith(("http://", "https://")):
        reader.fail(node, where, "the environment variable does not hold an http(s) URL")
        return None
    return url


def _email(
    reader: NodeReader, node: Node, keys: Keys, where: str, environ: Mapping[str, str]
) -> EmailSettings | None:
    before = len(reader.problems)
    host = reader.string(keys["smtp_host"][1], f"{where}.smtp_host")
    sender = reader.string(keys["from"][1], f"{where}.from")
    recipients = reader.strings(keys["to"][1], f"{where}.to")
    if recipients == []:
        reader.fail(keys["to"][1], f"{where}.to", "expected at least one address")
    flags = {
        flag: (reader.boolean(keys[flag][1], f"{where}.{flag}") if flag in keys else False)
        for flag in ("starttls", "tls")
    }
    if flags["starttls"] and flags["tls"]:
        reader.fail(keys["tls"][1], f"{where}.tls", "choose one of tls and starttls")
    port = 465 if flags["tls"] else 587 if flags["starttls"] else 25
    if "smtp_port" in keys:
        port = reader.integer(keys["smtp_port"][1], f"{where}.smtp_port", 1, 65535) or port
    has_user, has_password = "username_env" in keys, "password_env" in keys
    if has_user != has_password:
        reader.fail(node, where, "give both username_env and password_env, or neither")
    username = password = None
    if has_user and has_password:
        username = reader.env(keys["username_env"][1], f"{where}.username_env", environ)
        password = reader.env(keys["password_env"][1], f"{where}.password_env", environ)
    if len(reader.problems) > before:
        return None
    assert host is not None and sender is not None and recipients
    return EmailSettings(
        host,
        port,
        bool(flags["starttls"]),
        bool(flags["tls"]),
        sender,
        tuple(recipients),
        username,
        password,
    )
