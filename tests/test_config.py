"""Config validation: every kind of mistake is reported with its key path, no secret echoed."""

from __future__ import annotations

from pathlib import Path

import pytest

from sms_delivery_exporter.config import ConfigError, load_config, parse_config
from tests.helpers import config_check, providers

ROOT = Path(__file__).resolve().parent.parent
GOOD = """
accounts:
  eu:
    provider: namirial
    api_key: ${KEY}
"""


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_config(text, providers(), {"KEY": "k"} if env is None else env)
    return raised.value.problems


class TestValid:
    """A good config loads with its defaults and expanded references."""

    def test_minimal(self) -> None:
        config = parse_config(GOOD, providers(), {"KEY": "from-env"})
        settings = config.accounts["eu"].settings
        assert settings.api_key.get_secret_value() == "from-env"  # type: ignore[attr-defined]
        assert settings.schedule.max_interval == 300
        assert config.store.path == Path("sms-delivery-exporter.db")

    def test_durations_and_dollar_escape(self) -> None:
        text = (
            GOOD + "    schedule: {max_interval: 1h30m, tracking_window: 3d}\n    timeout: 1500ms\n"
        )
        text = text.replace("${KEY}", "pa$$word")
        settings = parse_config(text, providers(), {}).accounts["eu"].settings
        assert settings.schedule.max_interval == 5400
        assert settings.schedule.tracking_window == 3 * 86400
        assert settings.timeout == 1.5
        assert settings.api_key.get_secret_value() == "pa$word"  # type: ignore[attr-defined]

    def test_example_config_passes_check(self) -> None:
        env = {
            "SMS_EXPORTER_INTAKE_TOKEN": "t",
            "NAMIRIAL_API_KEY": "n",
            "SFMC_SUBDOMAIN": "mc0123",
            "SFMC_CLIENT_ID": "id",
            "SFMC_CLIENT_SECRET": "secret",
            "D7_API_TOKEN": "d7",
            "NAMIRIAL_DISCOVERY_NUMBER": "+393331234567",
            "CANARY_NUMBER": "+393331234568",
            "NAMIRIAL_SEND_USER": "canary",
            "NAMIRIAL_SEND_PASSWORD": "secret",
            "NAMIRIAL_PUSH_TOKEN": "p" * 32,
            "PATH": "/usr/bin:/bin",
        }
        result = config_check(ROOT / "config.example.yaml", env)
        assert result.returncode == 0, result.stderr
        assert "OK" in result.stdout
        for provider in ("namirial", "sfmc_transactional", "sfmc_mobileconnect", "d7"):
            assert f"provider {provider}," in result.stdout
        assert "discovery every 30s" in result.stdout
        assert "canary configured, not enabled" in result.stdout
        assert "+39333" not in result.stdout
        assert "webhooks at /api/v1/push/namirial-eu (token)" in result.stdout
        assert "p" * 32 not in result.stdout


class TestMistakes:
    """Each mistake names its key path."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (GOOD + "    api_kye: x\n", "accounts.eu.api_kye: unknown option"),
            (GOOD + "    push: {}\n", "accounts.eu.push.token: Field required"),
            (GOOD + "    push: {token: short}\n", "accounts.eu.push.token: Value error, too short"),
            (
                GOOD + "    push: {token: 0123456789abcdef, tokn: x}\n",
                "accounts.eu.push.tokn: unknown option",
            ),
            (
                GOOD + "    push: {token: 0123456789abcdef, safety_net: {first_poll: 2d}}\n",
                "accounts.eu.push.safety_net.first_poll: must be shorter than",
            ),
            (
                "accounts:\n  mc:\n    provider: sfmc_mobileconnect\n    subdomain: x\n"
                "    client_id: i\n    client_secret: s\n    push: {token: 0123456789abcdef}\n",
                "accounts.mc.push: provider 'sfmc_mobileconnect' cannot receive webhooks",
            ),
            (GOOD.replace("    api_key: ${KEY}\n", ""), "accounts.eu.api_key: Field required"),
            (
                GOOD + "    rate_limit: fast\n",
                "accounts.eu.rate_limit: Input should be a valid number",
            ),
            (
                GOOD + "    rate_limit: 0\n",
                "accounts.eu.rate_limit: Input should be greater than 0",
            ),
            (
                GOOD + "    schedule: {max_interval: soon}\n",
                "accounts.eu.schedule.max_interval: Value error, 'soon' is not a duration",
            ),
            (
                GOOD + "    schedule: {initial_interval: 10m, max_interval: 1m}\n",
                "accounts.eu.schedule: Value error, initial_interval must not exceed max_interval",
            ),
            (
                GOOD + "    sample_rate: 2\n",
                "accounts.eu.sample_rate: Input should be less than or equal to 1",
            ),
            (
                GOOD.replace("namirial", "twilio"),
                "accounts.eu.provider: no plugin supplies provider 'twilio'; known providers: ",
            ),
            (GOOD.replace("    provider: namirial\n", ""), "accounts.eu.provider: field required"),
            ("accounts: {}\n", "accounts: at least one account is needed"),
            ("store: {}\n", "accounts: Field required"),
            (GOOD + "stroe: {}\n", "stroe: unknown option"),
            (
                GOOD + "store: {retention: -5}\n",
                "store.retention: Value error, a duration cannot be negative",
            ),
            (
                GOOD + "intake: {labels: {keys: [provider]}}\n",
                "intake.labels.keys: Value error, 'provider' is used",
            ),
            (
                GOOD + "intake: {labels: {keys: ['bad-key']}}\n",
                "intake.labels.keys: Value error, 'bad-key' is not a valid",
            ),
            (GOOD + "intake: {auth: maybe}\n", "intake.auth: Input should be 'token' or 'none'"),
            (GOOD + "intake: {token: ''}\n", "intake.token: Value error, token is empty"),
            (
                "accounts:\n  'bad name!': {provider: namirial}\n",
                "accounts.bad name!: account names are",
            ),
            ("accounts:\n  eu: 5\n", "accounts.eu: Input should be a valid dictionary"),
            ("- a list\n", "the config must be a mapping"),
            ("accounts: [\n", "line 2, column 1"),
        ],
    )
    def test_mistake(self, text: str, expected: str) -> None:
        found = problems(text)
        assert any(problem.startswith(expected) for problem in found), found

    def test_unset_variable_named_once(self) -> None:
        assert problems(GOOD, env={}) == [
            "accounts.eu.api_key: environment variable KEY is not set"
        ]

    def test_every_mistake_reported_at_once(self) -> None:
        text = GOOD + "    rate_limit: 0\n  us:\n    provider: nope\n"
        found = problems(text)
        assert len(found) == 2

    def test_secret_never_echoed(self) -> None:
        text = GOOD + "    concurrency: hunter2-secret\n"
        assert not any("hunter2" in problem for problem in problems(text))

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="cannot read the config file"):
            load_config(tmp_path / "absent.yaml", providers())

    def test_check_exits_1_listing_problems(self, tmp_path: Path) -> None:
        path = tmp_path / "config.yaml"
        path.write_text(GOOD + "    rate_limit: 0\n")
        result = config_check(path, {"KEY": "k", "PATH": "/usr/bin:/bin"})
        assert result.returncode == 1
        assert "accounts.eu.rate_limit" in result.stderr
