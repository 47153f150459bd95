"""The code location's image, checked where no container builder runs: the Dockerfile's rules
(parsed with dockerfile-parse), the build context its COPYs need (.dockerignore), the locked
environment it installs (uv.lock), and the Dagster+ file that builds it (dagster_cloud.yaml, read
with the Dagster+ CLI's own loader)."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from dagster._config import process_config
from dockerfile_parse import DockerfileParser

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
MODULE = PYPROJECT["tool"]["dagster"]["module_name"]
K8S_INSTANCE = yaml.safe_load((REPO / "deploy" / "dagster.k8s.yaml").read_text())


def instructions(name: str) -> list[str]:
    parser = DockerfileParser(path=str(REPO / "Dockerfile"))
    return [i["value"] for i in parser.structure if i["instruction"] == name]


def option(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def final_stage_env() -> dict[str, str]:
    return DockerfileParser(path=str(REPO / "Dockerfile")).envs


def dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """(exception?, pattern) per line of .dockerignore, in order; the subset of its syntax the file
    uses: `*` and `?` within a name, `**` across names, `!` for an exception."""
    rules = []
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated, pattern = line.startswith("!"), line.lstrip("!").strip("/")
        regex = ""
        for token in re.split(r"(\*\*/|\*\*|\*|\?)", pattern):
            regex += {"**/": "(.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(
                token, re.escape(token)
            )
        rules.append((negated, re.compile(regex)))
    return rules


def in_context(path: str) -> bool:
    """Whether the build context holds ``path`` (relative to the repository): as in Docker, the
    last rule matching the path or one of its parent folders decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    kept = True
    for negated, pattern in dockerignore_rules():
        if any(pattern.fullmatch(p) for p in prefixes):
            kept = negated
    return kept


def test_the_base_is_python_3_11_slim_bookworm_on_every_stage():
    bases = [value.split()[0] for value in instructions("FROM")]
    assert bases and set(bases) == {"python:3.11-slim-bookworm"}
    assert PYPROJECT["project"]["requires-python"].startswith(">=3.11")


def test_the_environment_is_the_lock_without_dev_tools():
    syncs = [run for run in instructions("RUN") if "uv sync" in run]
    assert syncs
    for run in syncs:
        assert "--frozen" in run and "--no-dev" in run, run
        assert all(f"--extra {extra}" in run for extra in IMAGE_EXTRAS), run
    assert not any(tool in run for run in instructions("RUN") for tool in ("pytest", "ruff"))


def test_it_serves_the_code_location_module_on_the_exposed_port_as_a_user():
    (cmd,) = instructions("CMD")
    argv = json.loads(cmd)
    assert argv[:3] == ["dagster", "code-server", "start"]
    assert option(argv, "-m") == MODULE
    assert option(argv, "-h") == "0.0.0.0"  # reachable from the webserver and daemon pods
    assert instructions("EXPOSE") == [option(argv, "-p")]
    (health,) = instructions("HEALTHCHECK")
    assert f'"-p", "{option(argv, "-p")}"' in health
    users = instructions("USER")
    assert users and users[-1] not in ("root", "0")
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text())
    assert workspace["load_from"][0]["python_module"]["module_name"] == MODULE


def test_the_image_places_agree_with_the_kubernetes_instance():
    env = final_stage_env()
    launcher = K8S_INSTANCE["run_launcher"]["config"]
    assert env["DAGSTER_HOME"] == launcher["dagster_home"]  # where the ConfigMap is mounted
    mounts = {m["mount_path"] for m in launcher["volume_mounts"]}
    assert (
        env["ACCIDENT_ASSETS_HOME"] in mounts
    )  # the shared volume (compute logs; the rest is on s3://)
    compute_logs = K8S_INSTANCE["compute_logs"]["config"]["base_dir"]
    assert compute_logs.startswith(env["ACCIDENT_ASSETS_HOME"] + "/")


def test_every_copy_source_is_in_the_build_context():
    sources = []
    for value in instructions("COPY"):
        words = value.split()
        if not words[0].startswith("--from="):  # a stage's files, not the context's
            sources += words[:-1]
    assert sources
    for source in sources:
        assert (REPO / source).exists(), source
        assert in_context(source), source
    # Everything the package is made of goes in, apart from caches.
    for path in (REPO / "accident_assets").rglob("*.py"):
        assert in_context(str(path.relative_to(REPO))), path


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        "var/dagster/dagster.yaml",
        ".git/HEAD",
        "accident_assets_tests/conftest.py",
        "accident_assets/__pycache__/settings.cpython-311.pyc",
        "docs/deploy.md",
        "bench/x.py",
        ".ci/run",
    ],
)
def test_the_context_leaves_out_what_the_image_does_not_need(path: str):
    assert not in_context(path)


# The extras the image installs: the cluster executors and launcher, and Dagster+'s agent library.
IMAGE_EXTRAS = ("cluster", "plus")


def non_dev_packages(extras: tuple[str, ...] = IMAGE_EXTRAS) -> set[str]:
    """The packages uv.lock resolves for the project with ``extras`` and without dev groups
    (every platform's markers taken: a superset of one platform's install)."""
    lock = {p["name"]: p for p in tomllib.loads((REPO / "uv.lock").read_text())["package"]}
    root = lock["accident-assets"]
    todo = [*root["dependencies"], *(d for e in extras for d in root["optional-dependencies"][e])]
    seen: set[str] = set()
    while todo:
        dep = todo.pop()
        package = lock[dep["name"]]
        todo += [d for e in dep.get("extra", []) for d in package["optional-dependencies"][e]]
        if dep["name"] not in seen:
            seen.add(dep["name"])
            todo += package.get("dependencies", [])
    return seen


def test_the_image_installs_no_gpu_libraries():
    packages = non_dev_packages()
    # The walk sees what it should: the CPU xgboost, the cluster extra, no dev tools.
    assert {"xgboost-cpu", "dagster-k8s", "kubernetes", "dagster-celery", "celery"} <= packages
    assert "dagster-cloud" in packages
    assert not {"pytest", "ruff", "xgboost"} & packages
    assert not [p for p in packages if "nvidia" in p or "cuda" in p]


def third_party_imports() -> set[str]:
    """Top-level modules the package imports (at any depth of its code) from outside itself."""
    names: set[str] = set()
    for path in (REPO / "accident_assets").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"__future__", "accident_assets"}


def test_every_import_of_the_package_is_installed_in_the_image():
    """The dev venv has more than the image: an import that only a dev tool provides passes
    every other test and fails in the image (the image build showed it)."""
    installed = non_dev_packages()
    distributions = importlib.metadata.packages_distributions()
    missing = {
        module
        for module in third_party_imports()
        if not any(
            re.sub(r"[-_.]+", "-", dist).lower() in installed
            for dist in distributions.get(module, [module])
        )
    }
    assert not missing, missing


def test_dagster_cloud_yaml_builds_this_image_for_this_module(monkeypatch: pytest.MonkeyPatch):
    from dagster_cloud_cli.config.loader import DagsterCloudLocationsConfigLoader
    from dagster_k8s.job import DagsterK8sJobConfig

    monkeypatch.setenv("IMAGE_REGISTRY", "registry.example/accident_assets")
    (location,) = DagsterCloudLocationsConfigLoader.load_from_template(
        str(REPO / "dagster_cloud.yaml"), {}
    ).locations
    assert location.location_name == PYPROJECT["tool"]["dagster"]["code_location_name"]
    assert location.code_source.module_name == MODULE
    assert location.build.registry == "registry.example/accident_assets"
    assert (REPO / location.build.directory / "Dockerfile").is_file()
    k8s = location.container_context["k8s"]
    checked = process_config(DagsterK8sJobConfig.config_type_container_context(), k8s)
    assert checked.success, checked.errors
    # The same environment as an open-source Kubernetes deployment's run pods.
    launcher = K8S_INSTANCE["run_launcher"]["config"]
    for key in ("env_config_maps", "env_secrets"):
        assert k8s[key] == launcher[key], key
    assert not k8s.get("env_vars")
