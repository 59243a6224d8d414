"""Bundled real datasets (UCI Adult, ProPublica COMPAS, German credit).

The compressed CSVs ship inside the package, in ``fairkit/data/`` (package data, so an installed
wheel has them; ``fairkit/data/README.md`` gives sources, licences and what was changed).
``FAIRKIT_DATA_DIR`` points elsewhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

from .data import DatasetSpec, read_table


@dataclass(frozen=True)
class DatasetInfo:
    """Description of a bundled dataset.

    Attributes
    ----------
    name, title, file : str
    rows : int
    description : str
    spec : DatasetSpec
        The default spec (target, positive label, sensitive attributes).
    positive_meaning : str
        What the default positive label means for a person, in words.
    positive_is_adverse : bool
        True when the positive class is an adverse prediction (a risk score: being "selected"
        harms the person), so a higher selection rate is worse for a group; False when it is
        the favourable outcome (a loan granted).
    positive_prediction : str
        A positive prediction in words ("predicted to reoffend"), for the pages' rates.
    """

    name: str
    title: str
    file: str
    rows: int
    description: str
    spec: DatasetSpec
    positive_meaning: str = ""
    positive_is_adverse: bool = False
    positive_prediction: str = "predicted positive"

    def outcome_applies(self, spec: DatasetSpec) -> bool:
        """Whether ``spec`` predicts this dataset's default target and positive label (so
        :attr:`positive_meaning` and :attr:`positive_is_adverse` describe its positive class)."""
        return spec.target == self.spec.target and spec.positive_label == self.spec.positive_label


_DATASETS = {
    "adult": DatasetInfo(
        name="adult",
        title="UCI Adult (Census Income, 1994)",
        file="adult.csv.gz",
        rows=48_842,
        description="Predict whether income exceeds $50K/year from census attributes.",
        spec=DatasetSpec(
            target="income", positive_label=">50K", sensitive=["sex", "race"],
            # fnlwgt is a survey sampling weight, not a property of the person.
            exclude=["fnlwgt"], name="adult",
        ),
        positive_meaning="earns more than $50K a year",
    ),
    "compas": DatasetInfo(
        name="compas",
        title="ProPublica COMPAS recidivism (Broward County, 2013-2014)",
        file="compas.csv.gz",
        rows=6_172,
        description="Predict two-year recidivism; ProPublica's standard filtering, names removed.",
        spec=DatasetSpec(
            target="two_year_recid", positive_label=1, sensitive=["race", "sex"],
            # The COMPAS score is another model's output and the charge text is near-unique.
            exclude=["decile_score", "score_text", "c_charge_desc", "age_cat"], name="compas",
        ),
        # A recidivism risk score: the positive class is the prediction that harms the defendant.
        positive_meaning="reoffended within two years", positive_is_adverse=True,
        positive_prediction="predicted to reoffend",
    ),
    "german": DatasetInfo(
        name="german",
        title="Statlog German Credit (1994)",
        file="german.csv.gz",
        rows=1_000,
        description="Predict good or bad credit risk; decoded values, sex split from personal status.",
        spec=DatasetSpec(
            target="credit", positive_label="good", sensitive=["sex", "age_group"],
            exclude=["personal_status"], name="german",
        ),
        positive_meaning="is a good credit risk",
    ),
}


def data_dir():
    """Where the bundled files are read from.

    Returns
    -------
    Path or importlib.resources.abc.Traversable
        ``$FAIRKIT_DATA_DIR`` when set, else the package's ``data`` folder (found through
        :mod:`importlib.resources`, so it is the installed copy, wherever the package lives).
    """
    if os.environ.get("FAIRKIT_DATA_DIR"):
        return Path(os.environ["FAIRKIT_DATA_DIR"])
    return resources.files("fairkit") / "data"


def list_datasets() -> list[DatasetInfo]:
    """The bundled datasets, smallest first is not implied: Adult, COMPAS, German."""
    return list(_DATASETS.values())


def dataset_info(name: str) -> DatasetInfo:
    try:
        return _DATASETS[name.lower()]
    except KeyError:
        raise ValueError(f"Unknown dataset '{name}'. Choose one of: {', '.join(_DATASETS)}.") from None


def load_dataset(name: str) -> tuple[pd.DataFrame, DatasetSpec]:
    """Load a bundled dataset and its default spec.

    Parameters
    ----------
    name : {"adult", "compas", "german"}

    Returns
    -------
    frame : DataFrame
    spec : DatasetSpec
        Target, positive label and sensitive attributes the literature uses for this dataset.

    Examples
    --------
    >>> frame, spec = load_dataset("german")
    >>> spec.target, spec.sensitive
    ('credit', ['sex', 'age_group'])
    """
    info = dataset_info(name)
    resource = data_dir() / info.file
    if not resource.is_file():
        raise FileNotFoundError(f"Bundled file {resource} is missing; reinstall fairkit, or from a source "
                                "checkout run scripts/build_datasets.py.")
    # as_file gives a real path even when the package is imported from a zip.
    with resources.as_file(resource) as path:
        frame = read_table(path)
    spec = DatasetSpec(**info.spec.to_dict())
    return frame, spec
