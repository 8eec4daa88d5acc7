"""Silences: matching, states, expiry, persistence, config silences and the API v2 shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.clock import FakeClock
from agent.config.alerting import SilenceConfig
from agent.model import labels_of
from agent.notify.silence import SilenceError, Silences, matchers_from_json, parse_rfc3339

HOUR = 3600.0
DOWN = labels_of(alertname="KafkaDown", cluster="main")


def make(tmp_path: Path, clock: FakeClock | None = None) -> Silences:
    return Silences(tmp_path, clock or FakeClock())


def test_active_silence_mutes_matching_labels_only(tmp_path: Path) -> None:
    silences = make(tmp_path)
    now = silences.clock.time()
    silences.add(['alertname="KafkaDown"'], now, now + HOUR, "ops", "upgrade")
    assert (True, False) == (silences.is_silenced(DOWN), silences.is_silenced(labels_of(alertname="DiskFull")))


def test_regex_matcher_is_anchored(tmp_path: Path) -> None:
    silences = make(tmp_path)
    now = silences.clock.time()
    silences.add(['cluster=~"ma"'], now, now + HOUR, "ops", "")
    assert not silences.is_silenced(DOWN)


def test_pending_silence_mutes_only_once_started(tmp_path: Path) -> None:
    clock = FakeClock()
    silences = make(tmp_path, clock)
    silences.add(["cluster=main"], clock.time() + HOUR, clock.time() + 2 * HOUR, "ops", "")
    before = silences.is_silenced(DOWN)
    clock.advance(HOUR)
    assert (False, True) == (before, silences.is_silenced(DOWN))


def test_silence_stops_muting_at_its_end(tmp_path: Path) -> None:
    clock = FakeClock()
    silences = make(tmp_path, clock)
    silences.add(["cluster=main"], clock.time(), clock.time() + HOUR, "ops", "")
    clock.advance(HOUR)
    assert not silences.is_silenced(DOWN)


def test_expired_silence_no_longer_mutes(tmp_path: Path) -> None:
    silences = make(tmp_path)
    now = silences.clock.time()
    silence_id = silences.add(["cluster=main"], now, now + HOUR, "ops", "")
    silences.expire(silence_id)
    assert (False, "expired") == (
        silences.is_silenced(DOWN),
        silences.to_json(silences.get(silence_id))["status"]["state"],
    )


def test_expiring_twice_is_an_error(tmp_path: Path) -> None:
    silences = make(tmp_path)
    now = silences.clock.time()
    silence_id = silences.add(["cluster=main"], now, now + HOUR, "ops", "")
    silences.expire(silence_id)
    with pytest.raises(SilenceError, match="already expired"):
        silences.expire(silence_id)


def test_expiring_an_unknown_silence_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SilenceError, match="not found"):
        make(tmp_path).expire("nope")


def test_silences_survive_a_restart(tmp_path: Path) -> None:
    clock = FakeClock()
    first = make(tmp_path, clock)
    silence_id = first.add(["cluster=main"], clock.time(), clock.time() + HOUR, "ops", "upgrade")
    first.close()
    reopened = make(tmp_path, clock)
    assert ([silence_id], True) == ([s.id for s in reopened.list()], reopened.is_silenced(DOWN))


def test_a_silence_added_by_another_process_is_seen(tmp_path: Path) -> None:
    clock = FakeClock()
    daemon, cli = make(tmp_path, clock), make(tmp_path, clock)
    assert not daemon.is_silenced(DOWN)
    cli.add(["cluster=main"], clock.time(), clock.time() + HOUR, "ops", "")
    assert daemon.is_silenced(DOWN)


@pytest.mark.parametrize(
    ("matchers", "message"),
    [([], "at least one matcher"), (['a=~".*"'], "must not match the empty string"), (["a"], "bad matcher")],
)
def test_invalid_matchers_are_refused(tmp_path: Path, matchers: list[str], message: str) -> None:
    silences = make(tmp_path)
    now = silences.clock.time()
    with pytest.raises(ValueError, match=message):
        silences.add(matchers, now, now + HOUR, "ops", "")


def test_silence_ending_in_the_past_is_refused(tmp_path: Path) -> None:
    silences = make(tmp_path)
    now = silences.clock.time()
    with pytest.raises(SilenceError, match="in the past"):
        silences.add(["a=b"], now - 2 * HOUR, now - HOUR, "ops", "")


def test_config_silences_load_once_across_restarts(tmp_path: Path) -> None:
    config = [SilenceConfig(["cluster=main"], "2023-11-14T00:00:00Z", "2023-11-16T00:00:00Z", "ops", "window")]
    for _ in range(2):
        silences = make(tmp_path)
        silences.load_config(config)
        silences.close()
    silences = make(tmp_path)
    assert (1, True) == (len(silences.list()), silences.is_silenced(DOWN))


def test_config_silence_expired_by_hand_stays_expired_after_reload(tmp_path: Path) -> None:
    config = [SilenceConfig(["cluster=main"], "2023-11-14T00:00:00Z", "2023-11-16T00:00:00Z")]
    silences = make(tmp_path)
    silences.load_config(config)
    silences.expire(silences.list()[0].id)
    silences.load_config(config)
    assert not silences.is_silenced(DOWN)


def test_config_silence_removed_from_the_file_is_dropped(tmp_path: Path) -> None:
    silences = make(tmp_path)
    silences.load_config([SilenceConfig(["cluster=main"], "2023-11-14T00:00:00Z", "2023-11-16T00:00:00Z")])
    silences.load_config([])
    assert [] == silences.list()


def test_to_json_has_alertmanagers_v2_shape(tmp_path: Path) -> None:
    clock = FakeClock(start=parse_rfc3339("2026-11-24T08:00:00Z"))
    silences = make(tmp_path, clock)
    silence_id = silences.add(
        ['cluster!~"dev.*"', "alertname=KafkaDown"], clock.time(), clock.time() + HOUR, "ops", "upgrade"
    )
    assert {
        "id": silence_id,
        "matchers": [
            {"name": "alertname", "value": "KafkaDown", "isRegex": False, "isEqual": True},
            {"name": "cluster", "value": "dev.*", "isRegex": True, "isEqual": False},
        ],
        "startsAt": "2026-11-24T08:00:00.000Z",
        "endsAt": "2026-11-24T09:00:00.000Z",
        "updatedAt": "2026-11-24T08:00:00.000Z",
        "createdBy": "ops",
        "comment": "upgrade",
        "status": {"state": "active"},
    } == silences.to_json(silences.get(silence_id))


def test_rfc3339_time_without_zone_is_refused() -> None:
    with pytest.raises(SilenceError, match="no time zone"):
        parse_rfc3339("2026-11-24T08:00:00")


def test_api_json_matchers_round_trip_through_to_json(tmp_path: Path) -> None:
    silences = make(tmp_path)
    posted = [
        {"name": "cluster", "value": 'ma"in', "isRegex": False, "isEqual": True},
        {"name": "topic", "value": "dev.*", "isRegex": True, "isEqual": False},
    ]
    now = silences.clock.time()
    silence_id = silences.add(matchers_from_json(posted), now, now + HOUR, "ops", "")
    assert posted == silences.to_json(silences.get(silence_id))["matchers"]
