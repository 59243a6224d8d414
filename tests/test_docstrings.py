"""numpydoc sections of the public names the README and the audit name (house rule 9): every
parameter documented, in the order of the signature, and a Returns section.

A small reading of the numpydoc layout instead of numpydoc.validate, which is not a dependency.
"""

import inspect
import re

import pytest

from fairkit import frontier, metrics
from fairkit.estimators.boosting import FairBoostingClassifier
from fairkit.estimators.calibrated import CalibratedGroupClassifier
from fairkit.estimators.regularized import FairRegularizedClassifier


def _section(doc: str, title: str) -> list[str] | None:
    match = re.search(rf"^{title}\n-{{3,}}\n(.*?)(?=^\w[\w ]*\n-{{3,}}\n|\Z)", doc, re.S | re.M)
    return None if match is None else match.group(1).splitlines()


def _documented(doc: str) -> list[str]:
    names = []
    for line in _section(doc, "Parameters") or []:
        if line and not line[0].isspace():  # an entry, not its description
            names += [n.strip().lstrip("*") for n in line.split(" : ")[0].split(",")]
    return names


def _signature(obj) -> list[str]:
    params = inspect.signature(obj).parameters
    return [n for n, p in params.items() if n != "self" and p.kind is not p.VAR_KEYWORD]


FUNCTIONS = [frontier.select, frontier.best_at, frontier.hypervolume, metrics.FairnessReport.gap,
             metrics.FairnessReport.summary, metrics.bootstrap_metrics, CalibratedGroupClassifier.predict,
             FairRegularizedClassifier.predict_log_proba]


@pytest.mark.parametrize("func", FUNCTIONS, ids=lambda f: f.__qualname__)
def test_public_functions_document_every_parameter_in_order_and_what_they_return(func):
    doc = inspect.getdoc(func)
    assert _documented(doc) == _signature(func)
    assert _section(doc, "Returns"), f"{func.__qualname__} has no Returns section"


@pytest.mark.parametrize("cls", [FairBoostingClassifier, CalibratedGroupClassifier], ids=lambda c: c.__name__)
def test_estimators_document_their_parameters_in_signature_order(cls):
    assert _documented(inspect.getdoc(cls)) == _signature(cls.__init__)
