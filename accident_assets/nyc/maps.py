"""Maps of H3 cells coloured by a value (expected or observed incidents), as PNG bytes.

No tiles and no network: each cell is its hexagon (``h3.cell_to_boundary``) in a matplotlib
``PolyCollection``. The axes are longitude and latitude with an equal aspect *on the ground*
(one degree of longitude drawn ``cos(latitude)`` as long as one of latitude), so hexagons look
like hexagons. Several panels share one colour scale and one colour bar, so they compare.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence

import h3
import matplotlib

matplotlib.use("Agg")  # no display: plots are files

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import PolyCollection
from matplotlib.colors import Normalize

CMAP = "YlOrRd"
DPI = 80
Panel = tuple[str, Mapping[str, float]]


def cell_polygons(cells: Sequence[str]) -> list[np.ndarray]:
    """Each cell's boundary as an (n, 2) array of (longitude, latitude), in ``cells``' order."""
    return [np.array([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]) for c in cells]


def hexagon_figure(panels: Sequence[Panel], label: str = "incidents") -> plt.Figure:
    """One axes per ``(title, {cell: value})`` panel (a PolyCollection with one polygon per cell,
    sorted by cell), a shared colour scale from 0 and one colour bar."""
    if not panels:
        raise ValueError("hexagon_figure: no panel to draw")
    values = [float(v) for _, cells in panels for v in cells.values()]
    top = max(values, default=0.0)
    norm = Normalize(vmin=0.0, vmax=top if top > 0 else 1.0)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels) + 1, 4.6), squeeze=False)
    collection = None
    for ax, (title, by_cell) in zip(axes[0], panels, strict=True):
        cells = sorted(by_cell)
        collection = PolyCollection(
            cell_polygons(cells),
            array=np.array([float(by_cell[c]) for c in cells]),
            cmap=CMAP,
            norm=norm,
            edgecolors="#666666",
            linewidths=0.2,
        )
        ax.add_collection(collection)
        ax.autoscale_view()
        if cells:
            latitude = float(np.mean([h3.cell_to_latlng(c)[0] for c in cells]))
            ax.set_aspect(1 / math.cos(math.radians(latitude)))
        ax.set_title(title)
        ax.set_xlabel("longitude")
        ax.set_ylabel("latitude")
        ax.tick_params(labelsize=7)
    fig.colorbar(collection, ax=list(axes[0]), label=label, shrink=0.8)
    return fig


def _save(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    # The colour bar spans every panel: a tight bounding box rather than tight_layout.
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def hexagon_map(panels: Sequence[Panel], label: str = "incidents") -> bytes:
    """:func:`hexagon_figure` as PNG bytes."""
    return _save(hexagon_figure(panels, label))
