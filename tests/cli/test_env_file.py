"""``.env`` files (``SENDERID_ENV_FILE``, default ``./.env``) and ``SENDERID_LOG_FORMAT``."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from senderid import logs
from senderid.settings import SettingsError, env_file_path, load_settings
from tests.support.commands import clean_env, senderid


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SENDERID_ENV_FILE")  # conftest sets it empty: here the default applies
    return tmp_path


def test_dot_env_in_the_current_directory_is_read_and_the_environment_wins(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert env_file_path() is None and load_settings().otp_ttl_seconds == 600  # no file: defaults
    (in_tmp / ".env").write_text("# settings for this machine\nSENDERID_OTP_TTL_SECONDS=900\n"
                                 "SENDERID_LOG_FORMAT=text\nOTHER_TOOL_SETTING=ignored\n")
    assert env_file_path() == Path(".env")
    settings = load_settings()
    assert (settings.otp_ttl_seconds, settings.log_format) == (900, "text")
    monkeypatch.setenv("SENDERID_OTP_TTL_SECONDS", "120")
    assert load_settings().otp_ttl_seconds == 120


def test_senderid_env_file_names_another_file_or_none(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (in_tmp / ".env").write_text("SENDERID_OTP_TTL_SECONDS=900\n")
    (in_tmp / "prod.env").write_text("SENDERID_OTP_TTL_SECONDS=300\n")
    monkeypatch.setenv("SENDERID_ENV_FILE", "prod.env")
    assert load_settings().otp_ttl_seconds == 300
    monkeypatch.setenv("SENDERID_ENV_FILE", "")
    assert load_settings().otp_ttl_seconds == 600  # empty: no file at all
    monkeypatch.setenv("SENDERID_ENV_FILE", "missing.env")
    with pytest.raises(SettingsError, match=r"SENDERID_ENV_FILE=missing.env: no such file"):
        load_settings()


def test_the_commands_read_it_and_refuse_a_missing_one(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SENDERID_DATABASE_URL=sqlite:///./from-dot-env.db\n")
    result = senderid("account", "list", cwd=tmp_path)
    assert result.returncode == 1 and str(tmp_path / "from-dot-env.db") in result.stderr
    missing = senderid("account", "list", cwd=tmp_path, env=clean_env(SENDERID_ENV_FILE="nope.env"))
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        f"error: SENDERID_ENV_FILE=nope.env: no such file ({tmp_path / 'nope.env'})"]


def _record(message: str, **extra: object) -> logging.LogRecord:
    return logging.makeLogRecord({"name": "senderid.test", "levelname": "WARNING", "levelno": 30,
                                  "msg": message, **extra})


@pytest.mark.unit
def test_text_log_lines_carry_the_same_fields_and_colour_only_on_a_terminal() -> None:
    plain = logs.TextFormatter(colour=False).format(_record("sms send failed", message_id="m1", attempt=2))
    assert plain.endswith("Z WARNING senderid.test: sms send failed message_id=m1 attempt=2")
    assert "\033[" not in plain
    coloured = logs.TextFormatter(colour=True).format(_record("x"))
    assert "\033[33mWARNING\033[0m" in coloured
    as_json = logs.JsonFormatter().format(_record("sms send failed", message_id="m1"))
    assert '"message":"sms send failed"' in as_json and '"message_id":"m1"' in as_json


@pytest.mark.unit
def test_configure_picks_the_format() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        logs.configure("text", "INFO")
        assert isinstance(root.handlers[0].formatter, logs.TextFormatter)
        logs.configure("json", "INFO")
        assert isinstance(root.handlers[0].formatter, logs.JsonFormatter)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
