"""Bundled datasets load with their documented row counts and default specs."""

from pathlib import Path

import pytest

from fairkit.data import errors, validate
from fairkit.datasets import data_dir, dataset_info, list_datasets, load_dataset


@pytest.mark.parametrize(
    "name, rows, target, positive, sensitive",
    [
        ("adult", 48_842, "income", ">50K", ["sex", "race"]),
        ("compas", 6_172, "two_year_recid", 1, ["race", "sex"]),
        ("german", 1_000, "credit", "good", ["sex", "age_group"]),
    ],
)
def test_load_dataset(name, rows, target, positive, sensitive):
    frame, spec = load_dataset(name)
    assert len(frame) == rows == dataset_info(name).rows
    assert (spec.target, spec.positive_label, spec.sensitive) == (target, positive, sensitive)
    assert not errors(validate(frame, spec))
    assert set(frame[target].dropna().unique()) >= {positive}


def test_list_and_unknown():
    assert [d.name for d in list_datasets()] == ["adult", "compas", "german"]
    with pytest.raises(ValueError, match="Unknown dataset"):
        load_dataset("mnist")


def test_compas_has_no_personal_names():
    frame, _ = load_dataset("compas")
    assert not {"name", "first", "last"} & set(frame.columns)


def test_german_decoded_with_sex_and_age_group():
    frame, _ = load_dataset("german")
    assert set(frame["sex"]) == {"female", "male"}
    assert set(frame["age_group"]) == {"under 25", "25 and over"}
    assert set(frame["credit"]) == {"good", "bad"}
    assert frame["purpose"].str.startswith("A4").sum() == 0  # codes were decoded


def test_spec_is_a_copy():
    _, spec = load_dataset("adult")
    spec.sensitive.append("age")
    assert load_dataset("adult")[1].sensitive == ["sex", "race"]


def test_samples_are_read_from_the_package_not_the_checkout():
    # A wheel carries fairkit/ only: a samples folder outside the package is lost on install.
    import fairkit

    assert Path(str(data_dir())) == Path(fairkit.__file__).parent / "data"
    assert all((data_dir() / d.file).is_file() for d in list_datasets())


def test_data_dir_override_and_a_missing_file_named(tmp_path, monkeypatch):
    monkeypatch.setenv("FAIRKIT_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"german\.csv\.gz is missing"):
        load_dataset("german")
