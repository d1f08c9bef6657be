"""Retention settings: read from REPLY_RETENTION_*, and impossible values stop the start with their name."""

from __future__ import annotations

import pytest

from service.config import Settings


def test_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLY_RETENTION_JOBS_DAYS", "2")
    monkeypatch.setenv("REPLY_RETENTION_EVENTS_DAYS", "0.5")
    monkeypatch.setenv("REPLY_RETENTION_INTERVAL_S", "60")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (settings.retention_jobs_days, settings.retention_events_days) == (2, 0.5)
    assert settings.retention_interval_s == 60


@pytest.mark.parametrize(
    ("field", "value", "name"),
    [
        ("retention_interval_s", 0, "REPLY_RETENTION_INTERVAL_S"),
        ("retention_jobs_days", -1, "REPLY_RETENTION_JOBS_DAYS"),
        ("retention_events_days", -0.1, "REPLY_RETENTION_EVENTS_DAYS"),
    ],
)
def test_impossible_values_are_refused(field: str, value: float, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings(_env_file=None, **{field: value})  # type: ignore[arg-type]
