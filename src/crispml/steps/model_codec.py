"""Model artifacts in safe formats only: skops with an explicit trusted-type list, or LightGBM text.

Nothing is ever unpickled. skops refuses any type outside the list below, so a tampered artifact that
smuggles in another type fails to load even if its hash were forged.
"""

from __future__ import annotations

from typing import Any

from crispml.errors import IntegrityFailure
from crispml.steps.algorithms import BoosterModel

SKOPS = "skops"
LIGHTGBM_TEXT = "lightgbm-text"
SUFFIX = {SKOPS: ".skops", LIGHTGBM_TEXT: ".lgbm.txt"}

# Every non-default type a crispml estimator may hold, by the name skops reports it under.
TRUSTED_SKOPS_TYPES = [
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.Interval",
    "sklearn.linear_model._logistic.LogisticRegression",
]


def encode(model: Any) -> tuple[bytes, str]:
    """Serialise a fitted model; returns (bytes, format)."""
    if isinstance(model, BoosterModel):
        return model.booster.model_to_string().encode("utf-8"), LIGHTGBM_TEXT
    import skops.io as sio

    return sio.dumps(model), SKOPS


def decode(data: bytes, artifact_format: str) -> Any:
    """Load a model from bytes whose sha256 the caller has already checked."""
    if artifact_format == LIGHTGBM_TEXT:
        import lightgbm

        return BoosterModel(lightgbm.Booster(model_str=data.decode("utf-8")))
    if artifact_format == SKOPS:
        import skops.io as sio

        untrusted = [t for t in sio.get_untrusted_types(data=data) if t not in TRUSTED_SKOPS_TYPES]
        if untrusted:
            raise IntegrityFailure(f"model artifact holds types crispml does not trust: {', '.join(untrusted)}")
        return sio.loads(data, trusted=TRUSTED_SKOPS_TYPES)
    raise IntegrityFailure(f"unknown model artifact format {artifact_format!r}")
