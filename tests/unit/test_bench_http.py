"""The benchmark's http role: its pure helpers, role selection, targets and summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import http_api
from bench.__main__ import Measurement, parse_args, parse_roles, summarize
from bench.scenarios import target_ratio


def test_the_companion_database_sits_next_to_the_benchmark_database() -> None:
    url = "postgresql+psycopg://postgres:secret@127.0.0.1:5432/mdhub_bench"
    assert (
        http_api.companion_url(url)
        == "postgresql+psycopg://postgres:secret@127.0.0.1:5432/mdhub_bench_http"
    )


def test_a_url_without_a_database_has_no_companion() -> None:
    with pytest.raises(ValueError, match="no database"):
        http_api.companion_url("postgresql://127.0.0.1:5432")


def test_the_server_database_is_the_companion_or_a_sqlite_file(tmp_path: Path) -> None:
    pg = "postgresql+psycopg://postgres@127.0.0.1/mdhub_bench"
    assert http_api.database_url("postgres", pg, tmp_path).endswith("/mdhub_bench_http")
    assert http_api.database_url("sqlite", pg, tmp_path) == f"sqlite:///{tmp_path}/mdhub.db"


def test_the_server_environment_drops_inherited_mdhub_settings(tmp_path: Path) -> None:
    base = {"PATH": "/bin", "MDHUB_STORAGE_URL": "s3://elsewhere", "MDHUB_PORT": "1"}
    env = http_api.server_env(base, database_url="sqlite:///x.db", data_dir=tmp_path, port=8123)
    assert env["PATH"] == "/bin"
    assert "MDHUB_STORAGE_URL" not in env
    assert env["MDHUB_PORT"] == "8123"
    assert env["MDHUB_DATA_DIR"] == str(tmp_path)
    assert env["MDHUB_WORKERS"] == "1"
    assert int(env["MDHUB_MAX_UPLOAD_BYTES"]) >= 1 << 40
    assert env["MDHUB_ADMIN_PASSWORD"] == http_api.ADMIN_PASSWORD


def test_roles_are_all_by_default_and_kept_in_order() -> None:
    assert parse_roles(None) == ["baseline", "engine", "http"]
    assert parse_roles("http, baseline") == ["baseline", "http"]
    assert parse_roles("http,nope") == []
    assert parse_roles(",") == []


def test_roles_and_only_options() -> None:
    assert parse_args([]).roles == ["baseline", "engine", "http"]
    assert parse_args(["--roles", "http,baseline"]).roles == ["baseline", "http"]
    assert parse_args(["--only", "engine"]).roles == ["engine"]
    assert parse_args(["--only", "all"]).roles == ["baseline", "engine", "http"]
    with pytest.raises(SystemExit):
        parse_args(["--roles", "server"])
    with pytest.raises(SystemExit):
        parse_args(["--roles", "http", "--only", "engine"])


def test_http_targets_follow_the_performance_contract() -> None:
    assert target_ratio("postgres", "upsert", "http") == 1.25
    assert target_ratio("sqlite", "upsert", "http") == 2.0
    assert target_ratio("postgres", "initial", "http") == 1.5
    assert target_ratio("postgres", "upsert") == 1.1


def _m(backend: str, scenario: str, role: str, seconds: float) -> Measurement:
    return Measurement(backend, scenario, role, 0, seconds, 100.0, "succeeded")


def test_summary_gives_ratios_to_the_baseline_and_across_backends() -> None:
    rows = summarize(
        [
            _m("postgres", "upsert", "baseline", 4.0),
            _m("postgres", "upsert", "http", 5.0),
            _m("sqlite", "upsert", "baseline", 5.0),
            _m("sqlite", "upsert", "engine", 6.0),
            _m("sqlite", "upsert", "http", 8.0),
        ]
    )
    postgres, sqlite = rows
    assert postgres["ratios"] == {"engine": None, "http": 1.25}
    assert postgres["targets"]["http"] == 1.25
    assert "http_vs_postgres_baseline" not in postgres
    assert sqlite["ratio"] == pytest.approx(1.2)
    assert sqlite["ratios"]["http"] == pytest.approx(1.6)
    assert sqlite["http_vs_postgres_baseline"] == {"ratio": 2.0, "target": 2.5}
