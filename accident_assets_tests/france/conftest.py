from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from accident_assets.france import sample

SMALL = 600  # accidents per sample year in tests: enough for every code path, fast to write


@pytest.fixture(scope="session")
def sample_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with sample years 2021 and 2022 in the published format (read-only by convention)."""
    folder = tmp_path_factory.mktemp("france_sample")
    for year in (2021, 2022):
        sample.write_year(folder, year, SMALL)
    return folder


@pytest.fixture
def local_folder(sample_folder: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the sample folder (tests corrupt files in it)."""
    folder = tmp_path / "baac"
    shutil.copytree(sample_folder, folder)
    return folder


def _real_folder(shared_data: Path, name: str) -> Path:
    folder = shared_data / "france_baac" / name
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    return folder


@pytest.fixture
def head_folder(shared_data: Path) -> Path:
    return _real_folder(shared_data, "2021-head")


@pytest.fixture
def head_2024(shared_data: Path) -> Path:
    return _real_folder(shared_data, "2024-head")
