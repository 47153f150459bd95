"""The france_source backends: sample, local folder, S3 (moto on loopback), HTTP (loopback)."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from accident_assets.france.layouts import layout, year_of_filename
from accident_assets.france.reader import TABLES, read_table
from accident_assets.france.sources import (
    FranceSource,
    FranceSourceError,
    HttpFranceSource,
    LocalFranceSource,
    S3FranceSource,
    SampleFranceSource,
    source_from_settings,
)
from accident_assets.settings import get_settings


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
    source = SampleFranceSource(sample_accidents=50)
    data = source.fetch("2021", "usagers")
    assert (state_home / "sources" / "france_sample" / "usagers-2021.csv").read_bytes() == data
    assert read_table(data, "usagers", 2021)["Num_Acc"].n_unique() == 50
    assert source.available_years() == [2021, 2022]
    with pytest.raises(
        FranceSourceError, match=r"BAAC lieux 2019: .*sample has years \[2021, 2022\]"
    ):
        source.fetch(2019, "lieux")


def test_local_backend(local_folder: Path):
    source = LocalFranceSource(folder=str(local_folder))
    assert source.available_years() == [2021, 2022]
    assert source.fetch(2022, "vehicules") == (local_folder / "vehicules-2022.csv").read_bytes()
    with pytest.raises(
        FranceSourceError,
        match=r"BAAC caracteristiques 2023: no file under any accepted name \(local source\); "
        r"tried .*/caract-2023\.csv, .*/caracteristiques-2023\.csv",
    ):
        source.fetch(2023, "caracteristiques")
    with pytest.raises(FranceSourceError, match=r"BAAC lieux 2023: .*lieux-2023\.csv .*not found"):
        source.fetch(2023, "lieux")


def s3_source(moto_s3, files: list[Path], prefix: str) -> FranceSource:
    """The files uploaded under ``prefix`` of the test bucket, and a source reading them."""
    for path in files:
        moto_s3.put_object(
            Bucket="accident-assets-test", Key=f"{prefix}/{path.name}", Body=path.read_bytes()
        )
    return S3FranceSource(bucket="accident-assets-test", prefix=prefix, region_name="us-east-1")


def test_s3_backend_against_moto(moto_s3, sample_folder: Path):
    source = s3_source(moto_s3, list(sample_folder.glob("*-2021.csv")), "accidents")
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
    source = HttpFranceSource(base_url=url, timeout_seconds=5)
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
    remapped = HttpFranceSource(base_url=url, file_names={"lieux-2023": f"{url}/lieux-2021.csv"})
    assert remapped.fetch(2023, "lieux") == (sample_folder / "lieux-2021.csv").read_bytes()
    # 2023 has one file of four: not a release.
    assert remapped.available_years() == [2021, 2022]


def test_backend_from_settings(monkeypatch: pytest.MonkeyPatch, local_folder: Path):
    assert type(source_from_settings(get_settings())) is SampleFranceSource
    monkeypatch.setenv("ACCIDENT_ASSETS_FRANCE_SOURCE", "local")
    monkeypatch.setenv("ACCIDENT_ASSETS_FRANCE_FOLDER", str(local_folder))
    source = source_from_settings(get_settings())
    assert type(source) is LocalFranceSource
    assert source.fetch(2021, "lieux")
    monkeypatch.setenv("ACCIDENT_ASSETS_FRANCE_SOURCE", "ftp")
    with pytest.raises(ValueError, match="ACCIDENT_ASSETS_FRANCE_SOURCE='ftp'"):
        get_settings()


def test_one_class_per_backend_refuses_another_backends_fields(local_folder: Path):
    with pytest.raises(TypeError, match="FranceSource is the interface"):
        FranceSource()
    with pytest.raises(ValueError, match="bucket"):
        LocalFranceSource(folder=str(local_folder), bucket="b")  # type: ignore[call-arg]


def test_run_config_of_one_field_keeps_the_other_bound_fields(local_folder: Path, state_home):
    """A partial resource config changes only what it names (it once reset the backend)."""
    import dagster as dg

    seen = {}

    @dg.asset
    def probe(france_source: FranceSource) -> None:
        seen.update(
            type=type(france_source), folder=france_source.folder, names=france_source.file_names
        )

    dg.materialize(
        [probe],
        resources={"france_source": LocalFranceSource(folder=str(local_folder))},
        run_config={
            "resources": {"france_source": {"config": {"file_names": {"lieux-2021": "x.csv"}}}}
        },
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert seen == {
        "type": LocalFranceSource,
        "folder": str(local_folder),
        "names": {"lieux-2021": "x.csv"},
    }


def test_sample_backend_regenerates_when_its_size_changes(state_home: Path):
    small, smaller = (
        SampleFranceSource(sample_accidents=40),
        SampleFranceSource(sample_accidents=30),
    )
    assert read_table(small.fetch(2022, "caracteristiques"), "caracteristiques", 2022).height == 40
    assert (
        read_table(smaller.fetch(2022, "caracteristiques"), "caracteristiques", 2022).height == 30
    )
    roads = read_table(small.fetch(2022, "lieux"), "lieux", 2022)
    assert roads["Num_Acc"].n_unique() == 40  # one row per road: several for some accidents


# --- the per-year layout, and the real heads through every backend ----------------------------


def test_layout_names_of_every_release():
    official = {y: layout(y).official("caracteristiques") for y in range(2019, 2026)}
    assert official == {
        2019: "caracteristiques-2019.csv",
        2020: "caracteristiques-2020.csv",
        2021: "caracteristiques-2021.csv",
        2022: "carcteristiques-2022.csv",
        2023: "caract-2023.csv",
        2024: "caract-2024.csv",
        2025: "caract-2025.csv",  # the newest layout for a release not known yet
    }
    assert layout(2024).accepted("caracteristiques") == (
        "caract-2024.csv",
        "caracteristiques-2024.csv",
    )
    assert all(layout(y).official(t) == f"{t}-{y}.csv" for y in (2019, 2024) for t in TABLES[1:])
    assert (
        layout(2021).optional == {"usagers": frozenset({"id_usager"})} and not layout(2022).optional
    )
    assert layout(2022).renames == {"caracteristiques": {"Accident_Id": "Num_Acc"}}
    assert year_of_filename("carcteristiques-2022.csv") == ("caracteristiques", 2022)
    assert year_of_filename("caract-2021.csv") is None  # not a name of the 2021 release
    assert year_of_filename("lieux-2018.csv") is None


def _real_heads(shared_data: Path) -> dict[int, Path]:
    folders = {y: shared_data / "france_baac" / f"{y}-head" for y in (2021, 2024)}
    for folder in folders.values():
        if not folder.is_dir():
            pytest.skip(f"{folder} is absent")
    return folders


def _lines(data: bytes) -> int:
    """Records of a file: lines, less the header, less line breaks inside quoted names."""
    header_breaks = (
        data.split(b'"\n"', 1)[0].count(b"\n")
        if data.startswith(b'"Num_Acc";"id_vehicule\n')
        else 0
    )
    return data.count(b"\n") - 1 - header_breaks


def _assert_nothing_lost(source: FranceSource, folder: Path, year: int) -> None:
    for table in TABLES:
        name = source.filename(table, year)
        data = source.fetch(year, table)
        assert data == (folder / name).read_bytes(), (table, name)
        assert read_table(data, table, year, name).height == _lines(data), (table, name)


@pytest.mark.real_data
def test_real_heads_through_local_with_official_names(shared_data: Path):
    for year, folder in _real_heads(shared_data).items():
        source = LocalFranceSource(folder=str(folder))
        assert source.available_years() == [year]
        _assert_nothing_lost(source, folder, year)
    assert (
        LocalFranceSource(folder=str(folder)).filename("caracteristiques", 2024)
        == "caract-2024.csv"
    )


@pytest.mark.real_data
def test_real_heads_through_s3_under_official_names(moto_s3, shared_data: Path):
    files = [path for folder in _real_heads(shared_data).values() for path in folder.glob("*.csv")]
    source = s3_source(moto_s3, files, "baac")
    assert source.available_years() == [2021, 2024]
    for year, folder in _real_heads(shared_data).items():
        _assert_nothing_lost(source, folder, year)
    before = source.releases()[2024]
    moto_s3.put_object(Bucket="accident-assets-test", Key="baac/lieux-2024.csv", Body=b"changed")
    assert source.releases()[2024]["lieux"] != before["lieux"]
    moto_s3.delete_object(Bucket="accident-assets-test", Key="baac/usagers-2024.csv")
    assert source.available_years() == [2021]  # three files of four: no release


@pytest.fixture
def real_http(shared_data: Path) -> Iterator[str]:
    """The real 2021 and 2024 heads, under their official names, served on 127.0.0.1."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for folder in _real_heads(shared_data).values():
            for path in folder.glob("*.csv"):
                shutil.copy(path, root / path.name)
        handler = functools.partial(_QuietHandler, directory=str(root))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        timer = threading.Timer(60, server.shutdown)  # stops by itself even if the test hangs
        timer.daemon = True
        timer.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            timer.cancel()
            server.shutdown()
            server.server_close()


@pytest.mark.real_data
def test_real_heads_through_http_official_names(real_http: str, shared_data: Path):
    source = HttpFranceSource(base_url=real_http, timeout_seconds=5)
    assert source.filename("caracteristiques", 2024) == "caract-2024.csv"
    assert source.available_years() == [2021, 2024]
    for year, folder in _real_heads(shared_data).items():
        _assert_nothing_lost(source, folder, year)
