"""Training lane, the same for both tasks: one module per asset in
:mod:`accident_assets.training.assets`, wired by :mod:`accident_assets.training.factory`.

xgboost, lightgbm and scikit-learn each bring an OpenMP runtime whose idle threads spin by
default; on two cores, a fit by one library then waits on the other's spinning threads (measured:
an xgboost fit 16 s instead of 1.5 s, a HistGradientBoosting fit 17 s instead of 2.6 s).
Passive waiting must be set before the runtimes load, i.e. before those libraries are imported.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
