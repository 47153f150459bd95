"""The france_source backends: sample, local folder, S3 (moto on loopback), HTTP (loopback)."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster_aws.s3 import S3Resource

from accident_assets.france.reader import TABLES, read_table
from accident_assets.france.sources import FranceSource, FranceSourceError, source_from_env


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def http_folder(tmp_path: Path, sample_folder: Path) -> Iterator[tuple[str, Path]]:
    """The sample files under their official data.gouv.fr names, served on 127.0.0.1."""
    folder = tmp_path / "www" / "files"
    folder.mkdir(parents=True)
    for path in sample_folder.glob("*.csv"):
        name = path.name.replace("caracteristiques-2022", "carcteristiques-2022")
        shutil.copy(path, folder / name)
    handler = functools.partial(_QuietHandler, directory=str(folder.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.timeout = 5
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    # Stops by itself even if the test hangs.
    timer = threading.Timer(60, server.shutdown)
    timer.daemon = True
    timer.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/files", folder
    finally:
        timer.cancel()
        server.shutdown()
        server.server_close()


def test_sample_backend_generates_on_demand(state_home: Path):
    source = FranceSource(sample_accidents=50)
    data = source.fetch("2021", "usagers")
    assert (state_home / "sources" / "france_sample" / "usagers-2021.csv").read_bytes() == data
    assert read_table(data, "usagers", 2021)["Num_Acc"].n_unique() == 50
    assert source.available_years() == [2021, 2022]
    with pytest.raises(
        FranceSourceError, match=r"BAAC lieux 2019: .*sample has years \[2021, 2022\]"
    ):
        source.fetch(2019, "lieux")


def test_local_backend(local_folder: Path):
    source = FranceSource(backend="local", folder=str(local_folder))
    assert source.available_years() == [2021, 2022]
    assert source.fetch(2022, "vehicules") == (local_folder / "vehicules-2022.csv").read_bytes()
    with pytest.raises(
        FranceSourceError,
        match=r"BAAC caracteristiques 2023: .*caracteristiques-2023\.csv \(local source\): file not found",
    ):
        source.fetch(2023, "caracteristiques")


def test_s3_backend_against_moto(moto_s3, sample_folder: Path):
    for path in sample_folder.glob("*-2021.csv"):
        moto_s3.put_object(
            Bucket="accident-assets-test", Key=f"accidents/{path.name}", Body=path.read_bytes()
        )
    source = FranceSource(
        backend="s3",
        bucket="accident-assets-test",
        prefix="accidents",
        s3=S3Resource(region_name="us-east-1"),
    )
    assert source.available_years() == [2021]
    for table in TABLES:
        assert source.fetch(2021, table) == (sample_folder / f"{table}-2021.csv").read_bytes()
    assert source.describe("lieux", 2021) == "s3://accident-assets-test/accidents/lieux-2021.csv"
    with pytest.raises(
        FranceSourceError,
        match=r"BAAC lieux 2022: s3://accident-assets-test/accidents/lieux-2022\.csv .*no such object",
    ):
        source.fetch(2022, "lieux")


def test_http_backend_uses_the_configured_names(http_folder: tuple[str, Path], sample_folder: Path):
    url, _ = http_folder
    source = FranceSource(backend="http", base_url=url, timeout_seconds=5)
    # 2022's official name is misspelt; the default mapping knows it.
    assert source.filename("caracteristiques", 2022) == "carcteristiques-2022.csv"
    assert (
        source.fetch(2022, "caracteristiques")
        == (sample_folder / "caracteristiques-2022.csv").read_bytes()
    )
    assert source.fetch(2021, "usagers") == (sample_folder / "usagers-2021.csv").read_bytes()
    with pytest.raises(
        FranceSourceError,
        match=r"BAAC lieux 2023: http://127\.0\.0\.1:\d+/files/lieux-2023\.csv .*HTTP 404",
    ):
        source.fetch(2023, "lieux")
    # Any name or full URL can be configured per file.
    remapped = FranceSource(
        backend="http", base_url=url, file_names={"lieux-2023": f"{url}/lieux-2021.csv"}
    )
    assert remapped.fetch(2023, "lieux") == (sample_folder / "lieux-2021.csv").read_bytes()
    assert 2023 in remapped.available_years()


def test_backend_from_environment(monkeypatch: pytest.MonkeyPatch, local_folder: Path):
    assert source_from_env().backend == "sample"
    monkeypatch.setenv("ACCIDENT_ASSETS_FRANCE_SOURCE", "local")
    monkeypatch.setenv("ACCIDENT_ASSETS_FRANCE_FOLDER", str(local_folder))
    assert source_from_env().fetch(2021, "lieux")
    monkeypatch.setenv("ACCIDENT_ASSETS_FRANCE_SOURCE", "ftp")
    with pytest.raises(ValueError, match="ACCIDENT_ASSETS_FRANCE_SOURCE='ftp'"):
        source_from_env()


def test_sample_backend_regenerates_when_its_size_changes(state_home: Path):
    small, smaller = FranceSource(sample_accidents=40), FranceSource(sample_accidents=30)
    assert read_table(small.fetch(2022, "caracteristiques"), "caracteristiques", 2022).height == 40
    assert (
        read_table(smaller.fetch(2022, "caracteristiques"), "caracteristiques", 2022).height == 30
    )
    assert read_table(small.fetch(2022, "lieux"), "lieux", 2022).height == 40
