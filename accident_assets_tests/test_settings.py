"""The one reader of the environment: typed values, errors that name the variable, the README's
table in step with the fields, and the definitions bound from it."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from accident_assets import settings
from accident_assets.nyc import features
from accident_assets.settings import Settings, env_name, get_settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_values_are_typed_and_derived_places_follow_home(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("ACCIDENT_ASSETS_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("DAGSTER_HOME")
    monkeypatch.setenv("ACCIDENT_ASSETS_NYC_START", "2022-01-02")
    monkeypatch.setenv("ACCIDENT_ASSETS_CHAMPION_REFRESH_SECONDS", "2.5")
    current = get_settings()
    assert current.nyc_start == dt.date(2022, 1, 2)
    assert current.champion_refresh_seconds == 2.5
    assert current.storage_root == str(tmp_path / "state" / "storage")
    assert current.dagster_home == tmp_path / "state" / "dagster"
    assert current.tracking_uri == f"sqlite:///{tmp_path / 'state' / 'mlflow' / 'mlflow.db'}"
    monkeypatch.setenv("ACCIDENT_ASSETS_STORAGE", "s3://bucket/prefix")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert settings.storage_root() == "s3://bucket/prefix"
    assert get_settings().tracking_uri == "http://127.0.0.1:5000"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ACCIDENT_ASSETS_NYC_START", "Jan 2", "ACCIDENT_ASSETS_NYC_START='Jan 2'"),
        ("ACCIDENT_ASSETS_NYC_LOOKBACK_DAYS", "0", "ACCIDENT_ASSETS_NYC_LOOKBACK_DAYS='0'"),
        ("ACCIDENT_ASSETS_SCORING_THREADS", "two", "ACCIDENT_ASSETS_SCORING_THREADS='two'"),
        ("ACCIDENT_ASSETS_NYC_H3_RESOLUTION", "16", "ACCIDENT_ASSETS_NYC_H3_RESOLUTION='16'"),
        ("ACCIDENT_ASSETS_FRANCE_SOURCE", "ftp", "'sample', 'local', 's3' or 'http'"),
    ],
)
def test_a_bad_value_names_its_variable(monkeypatch, name: str, value: str, message: str):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=re.escape(message)):
        get_settings()


def test_defaults_agree_with_the_code_that_uses_them():
    assert Settings.model_fields["nyc_h3_resolution"].default == features.H3_RESOLUTION_DEFAULT


def test_readme_configuration_table_lists_every_setting():
    text = README.read_text()
    table = text[text.index("## Configuration") :]
    table = table[: table.index("\n## ", 1)]
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)`", table, flags=re.MULTILINE))
    assert documented >= {env_name(field) for field in Settings.model_fields}


def test_build_defs_binds_the_backends_the_settings_name(monkeypatch, tmp_path: Path):
    from accident_assets.definitions import build_defs
    from accident_assets.france.sources import LocalFranceSource
    from accident_assets.nyc.sources import CsvExportNycSource, SampleNycSource

    monkeypatch.setenv("ACCIDENT_ASSETS_NYC_SOURCE", "csv_export")
    monkeypatch.setenv("ACCIDENT_ASSETS_NYC_CSV", str(tmp_path / "exports"))
    monkeypatch.setenv("ACCIDENT_ASSETS_FRANCE_SOURCE", "local")
    monkeypatch.setenv("ACCIDENT_ASSETS_FRANCE_FOLDER", str(tmp_path / "baac"))
    defs = build_defs()
    assert defs.resources["nyc_source"] == CsvExportNycSource(path=str(tmp_path / "exports"))
    assert defs.resources["france_source"] == LocalFranceSource(folder=str(tmp_path / "baac"))
    assert defs.resources["asset_storage"].root == get_settings().storage_root
    assert defs.resources["mlflow"].tracking_uri == get_settings().tracking_uri
    # A replacement wins, and the incomplete backend it replaces is not built.
    monkeypatch.setenv("ACCIDENT_ASSETS_NYC_CSV", "")
    replaced = build_defs(resources={"nyc_source": SampleNycSource(seed=3)})
    assert replaced.resources["nyc_source"] == SampleNycSource(seed=3)
    with pytest.raises(ValueError, match="needs ACCIDENT_ASSETS_NYC_CSV"):
        build_defs()


def test_fields_can_be_given_by_name_as_well_as_by_variable(tmp_path: Path):
    given = Settings(dagster_home_dir=tmp_path / "instance", mlflow_tracking_uri="sqlite:///x.db")
    assert given.dagster_home == tmp_path / "instance"
    assert given.tracking_uri == "sqlite:///x.db"


def test_objects_follow_the_asset_storage(monkeypatch, tmp_path: Path):
    """Pickled training sets and fits sit on the same store as the tables, so a step on another
    machine reads what its upstream step wrote; without a storage setting, under the home."""
    monkeypatch.setenv("ACCIDENT_ASSETS_HOME", str(tmp_path / "state"))
    assert get_settings().pickle_root == str(tmp_path / "state" / "objects")
    monkeypatch.setenv("ACCIDENT_ASSETS_STORAGE", "s3://bucket/prefix/")
    assert get_settings().pickle_root == "s3://bucket/prefix/objects"


def test_no_asset_key_collides_with_the_objects_folder():
    from accident_assets.definitions import build_defs
    from accident_assets.io_manager import COMMITS_DIR

    tops = {key.path[0] for key in build_defs().resolve_asset_graph().get_all_asset_keys()}
    assert not tops & {"objects", COMMITS_DIR}
