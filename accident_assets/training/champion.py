"""Champion rules: whether a candidate replaces the current champion, and the registry moves."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # mlflow is imported where the registry is used, not to define assets
    from mlflow.tracking import MlflowClient

CHAMPION = "champion"
PREVIOUS = "previous_champion"
# Tags of every fit run and registered version naming the feature partitions behind it.
TRAINED_ON = "trained_on_partitions"  # every partition read: training and holdout
TRAIN_PARTITIONS = "train_partitions"
HOLDOUT_PARTITIONS = "holdout_partitions"


def tagged_partitions(tags: Mapping[str, str], name: str) -> list[str]:
    """The partition keys of a comma-joined partition tag, sorted (none when absent)."""
    return sorted({k.strip() for k in tags.get(name, "").split(",") if k.strip()})


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    candidate_score: float
    champion_score: float | None


def decide(
    candidate: float,
    champion: float | None,
    *,
    greater_is_better: bool,
    margin: float,
    floor: float | None = None,
    champion_error: str | None = None,
    replace_unscorable: bool = False,
) -> Decision:
    """Promote only a candidate above the floor and better than the champion by ``margin``
    (relative). Equal or worse never wins; with no champion, the first candidate above the floor
    does.

    ``champion_error`` says why the current champion could not be scored on the holdout (e.g. it
    was trained on other feature columns, or the registry failed). Then nothing shows the
    candidate is better, so the champion stays unless ``replace_unscorable`` says otherwise.
    """
    if champion_error is not None and not replace_unscorable:
        return Decision(
            False,
            f"the champion cannot be scored on this holdout ({champion_error}); kept — set "
            "replace_unscorable_champion to let a candidate replace it",
            candidate,
            None,
        )
    if math.isnan(candidate):
        return Decision(False, "candidate score is NaN", candidate, champion)
    if floor is not None:
        below = candidate < floor if greater_is_better else candidate > floor
        if below:
            return Decision(
                False,
                f"candidate {candidate:.4f} does not reach the floor {floor}",
                candidate,
                champion,
            )
    if champion is None or math.isnan(champion):
        return Decision(True, "no champion yet", candidate, champion)
    if greater_is_better:
        needed = champion + abs(champion) * margin
        wins = candidate > champion and candidate >= needed
    else:
        needed = champion - abs(champion) * margin
        wins = candidate < champion and candidate <= needed
    direction = ">=" if greater_is_better else "<="
    if wins:
        return Decision(
            True,
            f"candidate {candidate:.4f} {direction} {needed:.4f} (champion {champion:.4f} "
            f"with a {margin:.2%} margin)",
            candidate,
            champion,
        )
    return Decision(
        False,
        f"candidate {candidate:.4f} not {direction} {needed:.4f} (champion {champion:.4f} "
        f"with a {margin:.2%} margin)",
        candidate,
        champion,
    )


def current_champion(client: MlflowClient, name: str) -> Any | None:
    """The model version with alias ``champion``, or None (no registered model or no alias)."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def promote(
    client: MlflowClient, name: str, model_uri: str, run_id: str, tags: dict[str, str]
) -> tuple[str, str | None]:
    """Register ``model_uri`` as a new version of ``name`` and move the aliases: the old champion
    keeps its version number and gets ``previous_champion``. Returns (new, previous) versions."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name)
    previous = current_champion(client, name)
    version = client.create_model_version(name, model_uri, run_id=run_id, tags=tags)
    if previous is not None:
        client.set_registered_model_alias(name, PREVIOUS, previous.version)
    client.set_registered_model_alias(name, CHAMPION, version.version)
    return str(version.version), (str(previous.version) if previous is not None else None)
