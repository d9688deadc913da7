"""Settings: documented defaults, DM_* environment overrides, YAML/TOML file, consistency checks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from mesh.settings import SECTIONS, SERVICES, Settings, get_settings, reset_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No DM_* variable from the outer environment leaks into these tests."""
    for key in list(os.environ):
        if key.startswith("DM_"):
            monkeypatch.delenv(key)


def test_defaults() -> None:
    s = Settings()
    assert s.host == "127.0.0.1"
    assert [s.port_for(n) for n in SERVICES] == list(range(50050, 50057))
    assert [s.metrics_port_for(n) for n in SERVICES] == list(range(9100, 9107))
    assert s.memory_addr == "127.0.0.1:50051" and s.addr_for("gateway") == "127.0.0.1:50050"
    assert s.data_dir == Path("data")
    assert s.database_url == f"sqlite:///{Path('data') / 'dungeonmaster.db'}"
    assert s.milvus_uri == str(Path("data") / "milvus.db")
    assert s.default_world == "ashen-reach" and s.worlds_dir == Path("worlds")
    assert s.vllm_urls == [] and s.embedding_model == "" and s.visual_model_path == ""
    assert s.max_message_bytes == 32 * 1024 * 1024
    assert s.log_level == "INFO" and s.log_format == "json"
    with pytest.raises(KeyError):
        s.port_for("tavern")


def test_every_field_is_documented_and_in_one_section() -> None:
    for name, info in Settings.model_fields.items():
        assert info.description and len(info.description) > 10, name
    grouped = [f for fields in SECTIONS.values() for f in fields]
    assert len(grouped) == len(set(grouped)), "a field is listed in two sections"
    assert set(grouped) == set(Settings.model_fields)


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DM_HOST", "0.0.0.0")
    monkeypatch.setenv("DM_MEMORY_PORT", "6001")
    monkeypatch.setenv("DM_NPC_ADDR", "npc.dm.svc:50054")
    monkeypatch.setenv("DM_VLLM_URLS", "http://gpu-a:8000/v1, http://gpu-b:8000/v1")
    monkeypatch.setenv("DM_GRACE_PERIOD_S", "2.5")
    monkeypatch.setenv("DM_LOG_LEVEL", "debug")
    monkeypatch.setenv("DM_DATA_DIR", "/var/lib/dm")
    s = Settings()
    assert s.memory_port == 6001 and s.memory_addr == "0.0.0.0:6001"
    assert s.npc_addr == "npc.dm.svc:50054"
    assert s.vllm_urls == ["http://gpu-a:8000/v1", "http://gpu-b:8000/v1"]
    assert s.grace_period_s == 2.5 and s.log_level == "DEBUG"
    assert s.database_url == "sqlite:////var/lib/dm/dungeonmaster.db"
    monkeypatch.setenv("DM_VLLM_URLS", '["http://one/v1"]')
    assert Settings().vllm_urls == ["http://one/v1"]


def test_yaml_file_and_env_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "dm.yaml"
    path.write_text("narrative_port: 7002\nvllm_urls: [http://a/v1]\ndefault_world: frostmarch\n")
    monkeypatch.setenv("DM_CONFIG", str(path))
    monkeypatch.setenv("DM_DEFAULT_WORLD", "from-env")
    s = Settings()
    assert s.narrative_port == 7002 and s.narrative_addr == "127.0.0.1:7002"
    assert s.vllm_urls == ["http://a/v1"]
    assert s.default_world == "from-env"  # the environment beats the file


def test_toml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "dm.toml"
    path.write_text('host = "10.0.0.5"\nitem_metrics_port = 0\nmilvus_uri = "http://milvus:19530"\n')
    monkeypatch.setenv("DM_CONFIG", str(path))
    s = Settings()
    assert s.item_addr == "10.0.0.5:50055" and s.metrics_port_for("item") == 0
    assert s.milvus_uri == "http://milvus:19530"


def test_bad_files_and_values_are_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    typo = tmp_path / "typo.yaml"
    typo.write_text("memroy_port: 1\n")
    monkeypatch.setenv("DM_CONFIG", str(typo))
    with pytest.raises(ValidationError, match="memroy_port"):
        Settings()
    monkeypatch.setenv("DM_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(FileNotFoundError):
        Settings()
    monkeypatch.delenv("DM_CONFIG")
    with pytest.raises(ValidationError, match="keepalive_min_ping_interval_s"):
        Settings(keepalive_time_s=5, keepalive_min_ping_interval_s=10)
    with pytest.raises(ValidationError):
        Settings(memory_port=70000)


def test_get_settings_is_cached_and_resettable(monkeypatch: pytest.MonkeyPatch) -> None:
    reset_settings()
    try:
        first = get_settings()
        assert get_settings() is first
        monkeypatch.setenv("DM_ITEM_PORT", "6555")
        assert get_settings().item_port == first.item_port
        reset_settings()
        assert get_settings().item_port == 6555
    finally:
        reset_settings()
