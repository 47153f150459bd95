import math

import polars as pl
import pytest

from accident_assets.features import cyclic_encoding


def test_cyclic_encoding_puts_the_offset_at_angle_zero_and_wraps_around():
    months = pl.DataFrame({"month": [1, 4, 12]})
    encoded = months.select(*cyclic_encoding("month", 12, offset=1))
    assert encoded.columns == ["month_sin", "month_cos"]
    assert encoded["month_sin"].to_list() == pytest.approx([0.0, 1.0, math.sin(-math.pi / 6)])
    assert encoded["month_cos"].to_list() == pytest.approx([1.0, 0.0, math.cos(-math.pi / 6)])
