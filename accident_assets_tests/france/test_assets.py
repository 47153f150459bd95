"""The France group materialized through Dagster, and every bad input leaving storage untouched."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from upath import UPath

from accident_assets import settings
from accident_assets.france import features as F
from accident_assets.france import sample
from accident_assets.france.assets import FRANCE_ASSETS
from accident_assets.france.definitions import FRANCE_CHECKS, france_ingest_job
from accident_assets.france.sources import FranceSource, LocalFranceSource, SampleFranceSource
from accident_assets.io_manager import current_commit, read_partitions, stored_partitions
from accident_assets.resources import shared_resources

KEYS = [key for a in FRANCE_ASSETS for key in a.keys]
ACCIDENTS = dg.AssetKey(["france", "accidents"])
FEATURES = dg.AssetKey(["france", "features"])


def run(
    source: FranceSource, partition: str, instance: dg.DagsterInstance | None = None
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*FRANCE_ASSETS, *FRANCE_CHECKS],
        partition_key=partition,
        resources={**shared_resources(), "france_source": source},
        instance=instance or dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    failures = [e for e in result.all_events if e.is_step_failure]
    assert failures, "expected a failed step"
    return "\n".join(e.step_failure_data.error.to_string() for e in failures)


def snapshot(partition: str) -> dict[str, bytes]:
    """The year's commit and every file it names, byte for byte."""
    root = settings.storage_root()
    commit = current_commit(root, "france", partition)
    if commit is None:
        return {}
    files = {name: (UPath(root) / path).read_bytes() for name, path in commit.tables.items()}
    return {
        **files,
        "manifest": (UPath(root) / "_commits/france" / f"{partition}.json").read_bytes(),
    }


def test_group_materializes_both_sample_years_with_checks_passing(state_home: Path):
    source = SampleFranceSource(sample_accidents=800)
    for year in ("2021", "2022"):
        result = run(source, year)
        assert result.success
        evaluations = result.get_asset_check_evaluations()
        assert len(evaluations) == 6 and all(e.passed for e in evaluations), [
            e.check_name for e in evaluations if not e.passed
        ]
        [metadata] = [
            m.metadata
            for m in result.asset_materializations_for_node("france_year")
            if m.asset_key == ACCIDENTS
        ]
        assert metadata["rows"].value == 800 and 0.15 < metadata["priority_rate"].value < 0.4
        assert "| Num_Acc |" in metadata["preview"].value
    root = settings.storage_root()
    for key in KEYS:
        assert stored_partitions(root, key) == ["2021", "2022"]
    features = read_partitions(root, FEATURES, ["2021", "2022"])
    for year, frame in features.items():
        assert frame.height == 800 and frame["year"].unique().to_list() == [int(year)]
        assert frame.columns == [*F.ID_COLUMNS, *F.FEATURE_COLUMNS, F.TARGET]


def _missing_file(folder: Path) -> None:
    (folder / "vehicules-2021.csv").unlink()


def _wrong_delimiter(folder: Path) -> None:
    path = folder / "lieux-2021.csv"
    path.write_text(path.read_text("utf-8").replace('";"', '","'), "utf-8")


def _wrong_encoding(folder: Path) -> None:
    path = folder / "caracteristiques-2021.csv"
    path.write_bytes(path.read_text("utf-8").encode("cp1252"))


def _missing_column(folder: Path) -> None:
    path = folder / "usagers-2021.csv"
    lines = path.read_text("utf-8").split("\n")
    path.write_text(
        "\n".join(";".join(line.split(";")[:-1]) for line in lines if line) + "\n", "utf-8"
    )


def _renamed_column(folder: Path) -> None:
    path = folder / "lieux-2021.csv"
    path.write_text(path.read_text("utf-8").replace('"vma"', '"VMA"', 1), "utf-8")


def _orphan_num_acc(folder: Path) -> None:
    path = folder / "usagers-2021.csv"
    path.write_text(path.read_text("utf-8").replace('"202100000002"', '"202100099999"'), "utf-8")


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (
            _missing_file,
            r"BAAC vehicules 2021: .*vehicules-2021\.csv \(local source\): file not found",
        ),
        (
            _wrong_delimiter,
            r"BAAC lieux 2021 \(lieux-2021\.csv\): the header has no ';' delimiter \(it is ','-delimited\)",
        ),
        (_wrong_encoding, r"BAAC caracteristiques 2021 \(caracteristiques-2021\.csv\): not UTF-8"),
        (_missing_column, r"BAAC usagers 2021 \(usagers-2021\.csv\): missing column\(s\) 'etatp'"),
        (
            _renamed_column,
            r"BAAC lieux 2021 \(lieux-2021\.csv\): missing column\(s\) 'vma' and unexpected column\(s\) 'VMA' \(renamed\?\)",
        ),
        (
            _orphan_num_acc,
            r"BAAC usagers 2021 \(usagers-2021\.csv\): column 'Num_Acc' has \d+ row\(s\) whose accident is not in caracteristiques-2021, e\.g\. \[202100099999\]",
        ),
    ],
    ids=[
        "missing_file",
        "wrong_delimiter",
        "wrong_encoding",
        "missing_column",
        "renamed_column",
        "num_acc_not_joining",
    ],
)
def test_bad_input_fails_clearly_and_keeps_the_good_partition(
    state_home: Path, local_folder: Path, corrupt, message: str
):
    source = LocalFranceSource(folder=str(local_folder))
    assert run(source, "2021").success
    before = snapshot("2021")
    assert len(before) == len(KEYS) + 1

    corrupt(local_folder)
    result = run(source, "2021")
    assert not result.success
    assert any(re.search(message, line) for line in failure_text(result).splitlines()), (
        failure_text(result)[:2000]
    )
    assert snapshot("2021") == before


def test_a_value_the_schema_rejects_keeps_the_whole_year(state_home: Path, local_folder: Path):
    source = LocalFranceSource(folder=str(local_folder))
    assert run(source, "2021").success
    before = snapshot("2021")
    path = local_folder / "usagers-2021.csv"
    # catu 7 parses (an integer) but is no BAAC user category: the raw schema rejects it before
    # anything of the year is written.
    path.write_text(path.read_text("utf-8").replace('";"1";"1";"', '";"1";"7";"', 1), "utf-8")
    instance = dg.DagsterInstance.ephemeral()
    result = run(source, "2021", instance)
    assert not result.success
    text = failure_text(result)
    assert "france/raw_usagers 2021 (usagers-2021.csv): Pandera schema france_raw_usagers" in text
    assert "column 'catu' failed in_range" in text and "['7']" in text
    assert snapshot("2021") == before


def test_the_files_of_another_year_are_refused(state_home: Path, local_folder: Path):
    source = LocalFranceSource(folder=str(local_folder))
    assert run(source, "2021").success
    before = snapshot("2021")
    for table in ("caracteristiques", "lieux", "usagers", "vehicules"):
        (local_folder / f"{table}-2022.csv").replace(local_folder / f"{table}-2021.csv")
    result = run(source, "2021")
    assert not result.success
    assert "column 'an' is [2022]" in failure_text(result)
    assert snapshot("2021") == before


def test_definitions_and_job():
    from accident_assets.definitions import build_defs

    merged = build_defs()
    repo = merged.get_repository_def()
    assert repo.get_job("france_ingest_job").executor_def is dg.in_process_executor
    assert {k.to_user_string() for k in france_ingest_job.selection.resolve(repo.asset_graph)} == {
        k.to_user_string() for k in KEYS
    }
    assert type(merged.resources["france_source"]) is SampleFranceSource


@pytest.mark.slow
def test_cli_job_execute(tmp_path: Path):
    env = {
        **os.environ,
        "ACCIDENT_ASSETS_HOME": str(tmp_path / "home"),
        "DAGSTER_HOME": str(tmp_path / "home" / "dagster"),
    }
    (tmp_path / "home" / "dagster").mkdir(parents=True)
    dagster = Path(sys.executable).with_name("dagster")
    completed = subprocess.run(
        [str(dagster), "job", "execute", "-m", "accident_assets.definitions", "-j", "france_ingest_job", "--tags", json.dumps({"dagster/partition": "2021"})],
        env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    root = str(tmp_path / "home" / "storage")
    stored = read_partitions(root, FEATURES, ["2021"])["2021"]
    assert stored.height == 4000


def test_release_sensor_requests_each_new_year_once(state_home: Path, local_folder: Path):
    from accident_assets.france.sensors import france_new_release_sensor, new_years

    assert new_years([2018, 2021, 2022], {"2021"}, {"2021", "2022"}) == ["2022"]
    instance = dg.DagsterInstance.ephemeral()
    source = LocalFranceSource(folder=str(local_folder))

    def evaluate():
        with dg.build_sensor_context(
            instance=instance, resources={"france_source": source}
        ) as context:
            return france_new_release_sensor(context)

    result = evaluate()
    assert [r.partition_key for r in result.run_requests] == ["2021", "2022"]
    keys = {r.partition_key: r.run_key for r in result.run_requests}
    assert all(re.fullmatch(rf"france-{y}-[0-9a-f]{{12}}", k) for y, k in keys.items())
    assert evaluate().run_requests[1].run_key == keys["2022"]  # same files, same key

    # 2021 ingested: only 2022 is new; a 2022 with three files of four is not a release.
    dg.materialize(
        [*FRANCE_ASSETS, *FRANCE_CHECKS],
        partition_key="2021",
        resources={**shared_resources(), "france_source": source},
        instance=instance,
    )
    assert [r.partition_key for r in evaluate().run_requests] == ["2022"]
    (local_folder / "caracteristiques-2022.csv").unlink()
    skipped = evaluate()
    assert isinstance(skipped, dg.SkipReason) and "no new year" in skipped.skip_message


def test_release_sensor_offers_a_failed_year_again_when_its_files_change(
    state_home: Path, local_folder: Path
):
    """A run failed on a broken file: the year is not materialized; the same files keep the same
    run key (Dagster does not request it twice), a fixed file gives a new one."""
    from accident_assets.france.sensors import france_new_release_sensor

    instance = dg.DagsterInstance.ephemeral()
    source = LocalFranceSource(folder=str(local_folder))
    (local_folder / "usagers-2022.csv").write_text('"Num_Acc";"bad"\n', "utf-8")

    def run_key_of_2022() -> str:
        with dg.build_sensor_context(instance=instance, resources={"france_source": source}) as ctx:
            result = france_new_release_sensor(ctx)
        return next(r.run_key for r in result.run_requests if r.partition_key == "2022")

    broken = run_key_of_2022()
    failed = dg.materialize(
        [*FRANCE_ASSETS, *FRANCE_CHECKS],
        partition_key="2022",
        resources={**shared_resources(), "france_source": source},
        instance=instance,
        raise_on_error=False,
    )
    assert not failed.success
    assert run_key_of_2022() == broken
    sample.write_year(local_folder, 2022, 600)  # the fixed release
    assert run_key_of_2022() != broken


def _header_only(name: str):
    def corrupt(folder: Path) -> None:
        path = folder / name
        path.write_text(path.read_text("utf-8").split("\n", 1)[0] + "\n", "utf-8")

    return corrupt


def _cut_in_half(folder: Path) -> None:
    """A download cut at half its lines (68 of the 126 accidents keep no user)."""
    path = folder / "usagers-2021.csv"
    lines = path.read_text("utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[: len(lines) // 2]), "utf-8")


@pytest.mark.real_data
@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (
            _header_only("usagers-2021.csv"),
            r"usagers 2021 \(usagers-2021\.csv\): 126 of 126 accidents",
        ),
        (_header_only("lieux-2021.csv"), r"lieux 2021 \(lieux-2021\.csv\): 126 of 126 accidents"),
        (_cut_in_half, r"usagers 2021 \(usagers-2021\.csv\): 68 of 126 accidents"),
    ],
    ids=["usagers_header_only", "lieux_header_only", "usagers_cut_in_half"],
)
def test_real_head_truncated_fails_and_keeps_the_stored_year(
    state_home: Path, head_folder: Path, tmp_path: Path, corrupt, message: str
):
    folder = tmp_path / "head"
    shutil.copytree(head_folder, folder)
    source = LocalFranceSource(folder=str(folder))
    assert run(source, "2021").success
    before = snapshot("2021")
    corrupt(folder)
    result = run(source, "2021")
    assert not result.success
    assert re.search(message, failure_text(result)), failure_text(result)[:2000]
    assert snapshot("2021") == before


@pytest.mark.real_data
def test_real_head_files_through_the_group(state_home: Path, head_folder: Path):
    result = run(LocalFranceSource(folder=str(head_folder)), "2021")
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    features = read_partitions(settings.storage_root(), FEATURES, ["2021"])["2021"]
    assert features.height == 126 and features.null_count().sum_horizontal().item() == 0


@pytest.mark.real_data
def test_real_first976_through_the_ingest_job(state_home: Path, shared_data: Path):
    folder = shared_data / "france_baac" / "2021-first976"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    definitions = dg.Definitions(
        assets=FRANCE_ASSETS,
        asset_checks=FRANCE_CHECKS,
        jobs=[france_ingest_job],
        resources={
            **shared_resources(),
            "france_source": LocalFranceSource(folder=str(folder)),
        },
    )
    with dg.instance_for_test() as instance:
        result = definitions.resolve_job_def("france_ingest_job").execute_in_process(
            partition_key="2021", instance=instance
        )
        assert result.success
        assert all(e.passed for e in result.get_asset_check_evaluations())
    root = settings.storage_root()
    stored = {key.path[-1]: read_partitions(root, key, ["2021"])["2021"].height for key in KEYS}
    assert stored == {
        "raw_caracteristiques": 976,
        "raw_lieux": 976,
        "raw_usagers": 2303,
        "raw_vehicules": 1613,
        "accidents": 976,
        "features": 976,
    }
    accidents = read_partitions(root, ACCIDENTS, ["2021"])["2021"]
    assert int(accidents["priority"].sum()) == 365  # the README's figure
