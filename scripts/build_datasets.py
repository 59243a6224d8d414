"""Build fairkit's bundled samples under fairkit/data/ from the public copies in ../shared/datasets/.

Run once from the project root: ``python scripts/build_datasets.py``. The outputs are committed,
and ship in the wheel as package data, so users and CI never need the raw files. See
fairkit/data/README.md for what is changed and why.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RAW = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "datasets"
OUT = ROOT / "fairkit" / "data"

ADULT_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status", "occupation",
    "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week",
    "native_country", "income",
]


def build_adult() -> pd.DataFrame:
    kw = dict(header=None, names=ADULT_COLUMNS, sep=",", skipinitialspace=True,
              na_values="?", keep_default_na=False)
    train = pd.read_csv(RAW / "adult.data", **kw)
    test = pd.read_csv(RAW / "adult.test", skiprows=1, **kw)
    # adult.test writes labels with a trailing "." (">50K."): make both files share one label set.
    test["income"] = test["income"].str.rstrip(".")
    frame = pd.concat([train, test], ignore_index=True)
    frame = frame.dropna(subset=["income"])
    assert set(frame["income"]) == {"<=50K", ">50K"}, set(frame["income"])
    return frame


def build_compas() -> pd.DataFrame:
    raw = pd.read_csv(RAW / "compas-scores-two-years.csv")
    # ProPublica's filtering (their analysis notebook): screening within 30 days of arrest,
    # a known recidivism flag, no ordinary traffic offences, and a valid score.
    keep = (
        raw["days_b_screening_arrest"].between(-30, 30)
        & (raw["is_recid"] != -1)
        & (raw["c_charge_degree"] != "O")
        & (raw["score_text"] != "N/A")
    )
    frame = raw.loc[keep]
    # Names are personal data and useless as features; the remaining columns are the ones the
    # usual analyses model on (no case numbers, dates or the COMPAS score itself).
    cols = [
        "sex", "age", "age_cat", "race", "juv_fel_count", "juv_misd_count", "juv_other_count",
        "priors_count", "c_charge_degree", "c_charge_desc", "days_b_screening_arrest",
        "decile_score", "score_text", "two_year_recid",
    ]
    frame = frame.loc[:, ~frame.columns.duplicated()][cols].reset_index(drop=True)
    assert len(frame) == 6172, len(frame)
    return frame


GERMAN_COLUMNS = [
    "status", "duration_months", "credit_history", "purpose", "credit_amount", "savings",
    "present_employment", "installment_rate", "status_sex", "other_debtors", "residence_since",
    "property", "age", "installment_plans", "housing", "existing_credits", "job",
    "people_liable", "telephone", "foreign_worker", "credit",
]


def build_german() -> pd.DataFrame:
    maps = json.loads((RAW / "german_values_maps.json").read_text())
    frame = pd.read_csv(RAW / "german.data", sep=" ", header=None, names=GERMAN_COLUMNS)
    for col, mapping in maps.items():
        if col in frame.columns and col != "credit":
            frame[col] = frame[col].map(lambda v, m=mapping: str(m[v]).strip() if v in m else v)
    frame["credit"] = frame["credit"].map({1: "good", 2: "bad"})
    # Attribute 9 mixes sex and marital status ("female : single"); split it.
    parts = frame["status_sex"].str.split(":", n=1, expand=True)
    frame["sex"] = parts[0].str.strip()
    frame["personal_status"] = parts[1].str.strip()
    frame = frame.drop(columns=["status_sex"])
    # A common split in the fairness literature (Kamiran & Calders): young is under 25.
    frame["age_group"] = frame["age"].map(lambda a: "under 25" if a < 25 else "25 and over")
    return frame


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, builder in [("adult", build_adult), ("compas", build_compas), ("german", build_german)]:
        frame = builder()
        path = OUT / f"{name}.csv.gz"
        # mtime=0 keeps the gzip bytes reproducible, so rebuilding does not churn git.
        frame.to_csv(path, index=False, compression={"method": "gzip", "mtime": 0})
        print(f"{name}: {len(frame)} rows x {frame.shape[1]} columns -> {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
