"""Settings: precedence, and the refusal of default secrets outside demo mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from surmesure.app import create_app
from surmesure.config import DEMO_SECRET_KEY, DEMO_WRITE_KEY, Settings, load_settings
from surmesure.errors import ConfigError


def test_environment_beats_file_beats_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "surmesure.toml"
    config.write_text('data_dir = "from-file"\n[server]\nport = 9001\nhost = "0.0.0.0"\n')
    monkeypatch.setenv("SURMESURE_CONFIG", str(config))
    monkeypatch.setenv("SURMESURE_SERVER__PORT", "9002")
    settings = load_settings()
    assert settings.server.port == 9002
    assert settings.server.host == "0.0.0.0"
    assert settings.data_dir == Path("from-file")
    assert settings.ingest.max_event_bytes == 32 * 1024


@pytest.mark.parametrize(
    "keys",
    [
        {},
        {"secret_key": ""},
        {"secret_key": DEMO_SECRET_KEY},
        {"secret_key": "short"},
        {"secret_key": "a-long-enough-secret-value", "write_keys": [DEMO_WRITE_KEY]},
    ],
)
def test_server_refuses_default_secrets_outside_demo(tmp_path: Path, keys: dict[str, object]) -> None:
    settings = Settings(data_dir=tmp_path, keys=keys, identity={"hash_key": "a-random-hash-key"})
    with pytest.raises(ConfigError) as error:
        create_app(settings)
    assert error.value.code == "config.invalid"


def test_server_refuses_the_default_hash_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, keys={"secret_key": "a-long-enough-secret-value"})
    with pytest.raises(ConfigError, match="hash_key"):
        create_app(settings)


def test_demo_mode_has_demo_keys(tmp_path: Path) -> None:
    settings = Settings(demo=True, data_dir=tmp_path)
    create_app(settings)  # does not raise
    assert DEMO_WRITE_KEY in settings.write_keys
    assert settings.secret_key == DEMO_SECRET_KEY


def test_masked_hides_secrets_and_passwords(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        store={"url": "postgresql://app:hunter2@db.internal/prod"},
        keys={"secret_key": "a-long-enough-secret-value"},
        identity={"hash_key": "a-random-hash-key"},
    )
    shown = str(settings.masked())
    assert "hunter2" not in shown
    assert "a-long-enough-secret-value" not in shown
    assert "a-random-hash-key" not in shown
    assert "app:***@db.internal/prod" in shown
