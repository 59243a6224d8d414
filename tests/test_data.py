"""read_table and validate: every rule is exercised by a small bad file."""

import gzip
import io

import numpy as np
import pandas as pd
import pytest

from fairkit.data import (
    DataError,
    DatasetSpec,
    Limits,
    binary_target,
    errors,
    read_table,
    validate,
)

GOOD = (
    "sex,race,age,income,label\n"
    + "".join(
        f"{s},{r},{20 + i % 40},{1000 + 37 * i},{'yes' if (i * 7) % 3 == 0 else 'no'}\n"
        for i, (s, r) in enumerate([("F", "A"), ("M", "B"), ("F", "B"), ("M", "A")] * 20)
    )
)
SPEC = DatasetSpec(target="label", positive_label="yes", sensitive=["sex"])


def codes(frame, spec=SPEC, **kw):
    return {p.code for p in validate(frame, spec, **kw)}


def problem(frame, code, spec=SPEC, **kw):
    found = [p for p in validate(frame, spec, **kw) if p.code == code]
    assert found, f"no {code} in {validate(frame, spec, **kw)}"
    return found[0]


# ---------------------------------------------------------------- read_table

def test_good_file_has_no_problems():
    frame = read_table(GOOD.encode())
    assert frame.shape == (80, 5)
    assert validate(frame, SPEC) == []


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_delimiter_detection(sep):
    frame = read_table(GOOD.replace(",", sep).encode())
    assert list(frame.columns) == ["sex", "race", "age", "income", "label"]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "latin-1"])
def test_encoding_detection(encoding):
    text = "name,city,y\n" + "".join(f"Zoë{i},Málaga,{i % 2}\n" for i in range(10))
    frame = read_table(text.encode(encoding))
    assert frame.columns[0] == "name"  # a BOM must not stick to the first column name
    assert frame.loc[0, "city"] == "Málaga"


def test_question_mark_and_blank_are_missing():
    frame = read_table(b"a,b,y\n1,?,0\n,x,1\n3, ,0\n")
    assert frame["a"].isna().sum() == 1
    assert frame["b"].isna().sum() == 2


def test_path_fileobj_gzip_and_parquet(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text(GOOD)
    assert read_table(p).shape == (80, 5)
    assert read_table(str(p)).shape == (80, 5)
    assert read_table(io.BytesIO(GOOD.encode())).shape == (80, 5)
    assert read_table(gzip.compress(GOOD.encode())).shape == (80, 5)
    pq = tmp_path / "t.parquet"
    read_table(p).to_parquet(pq)
    assert read_table(pq.read_bytes()).equals(read_table(p))


def test_malformed_csv_raises_clear_error():
    with pytest.raises(DataError, match="well-formed"):
        read_table(b"a,b\n1,2\n3,4,5,6\n7,8\n")


def test_binary_file_is_refused():
    with pytest.raises(DataError, match="binary"):
        read_table(b"\x89PNG\r\n\x1a\n\x00\x00\x00")


def test_missing_file():
    with pytest.raises(DataError, match="not found"):
        read_table("/nonexistent/file.csv")


def test_byte_limit_is_named():
    with pytest.raises(DataError, match="limit"):
        read_table(GOOD.encode(), limits=Limits(max_bytes=100))


def test_gzip_bomb_is_refused():
    bomb = gzip.compress(b"a,b\n" + b"1,2\n" * 100_000)
    with pytest.raises(DataError, match="limit"):
        read_table(bomb, limits=Limits(max_bytes=10_000))


# ---------------------------------------------------------------- validate rules

def test_empty_file():
    assert codes(read_table(b"")) == {"empty"}
    assert codes(read_table(b"a,b,label\n")) == {"empty"}


def test_duplicate_and_blank_column_names():
    frame = read_table(b"sex,sex,,label\nF,1,2,yes\nM,2,3,no\n")
    p = problem(frame, "duplicate_column")
    assert p.column == "sex" and p.severity == "error"
    assert problem(frame, "blank_column_name").severity == "error"


def test_target_missing():
    frame = read_table(GOOD.encode())
    p = problem(frame, "target_missing", DatasetSpec(target="outcome", sensitive=["sex"]))
    assert "outcome" in p.message and p.severity == "error"


def test_target_constant():
    frame = read_table(GOOD.encode())
    frame["label"] = "yes"
    p = problem(frame, "target_constant")
    assert p.column == "label" and p.severity == "error"


def test_target_not_binary_without_positive_label():
    frame = read_table(GOOD.encode())
    frame["label"] = np.arange(len(frame)) % 3
    p = problem(frame, "target_not_binary", DatasetSpec(target="label", sensitive=["sex"]))
    assert "3 values" in p.message
    # With a positive label the target is binarized with a warning, not blocked.
    found = codes(frame, DatasetSpec(target="label", positive_label=2, sensitive=["sex"]))
    assert "target_binarized" in found and "target_not_binary" not in found


def test_positive_label_absent():
    frame = read_table(GOOD.encode())
    p = problem(frame, "positive_label_absent", SPEC.replace(positive_label="maybe"))
    assert "'maybe'" in p.message and "yes" in p.message


def test_target_missing_values_warn():
    frame = read_table(GOOD.encode())
    frame.loc[:4, "label"] = np.nan
    p = problem(frame, "target_missing_values")
    assert p.severity == "warning" and "5 rows" in p.message


def test_sensitive_missing_all_missing_single_group():
    frame = read_table(GOOD.encode())
    assert problem(frame, "sensitive_missing", SPEC.replace(sensitive=["gender"])).column == "gender"
    frame["empty"] = np.nan
    assert problem(frame, "sensitive_all_missing", SPEC.replace(sensitive=["empty"])).severity == "error"
    frame["one"] = "x"
    p = problem(frame, "single_group", SPEC.replace(sensitive=["one"]))
    assert p.column == "one" and "single group" in p.message
    assert problem(frame, "no_sensitive", SPEC.replace(sensitive=[])).severity == "error"


def test_small_group_and_small_intersection_warn():
    frame = read_table(GOOD.encode())
    assert "small_group" not in codes(frame, min_group_size=30)
    p = problem(frame, "small_group", SPEC.replace(sensitive=["sex", "race"]), min_group_size=30)
    assert p.severity == "warning" and p.column == "sex & race" and "F & A (20)" in p.message
    assert problem(frame, "small_group", min_group_size=50).column == "sex"


def test_feature_identical_to_target_is_a_leak():
    frame = read_table(GOOD.encode())
    frame["approved"] = frame["label"].map({"yes": "Y", "no": "N"})
    p = problem(frame, "target_leak")
    assert p.column == "approved" and p.severity == "error"


def test_id_like_column_warns():
    frame = read_table(GOOD.encode())
    frame["customer_id"] = [f"C{i:05d}" for i in range(len(frame))]
    p = problem(frame, "id_like")
    assert p.column == "customer_id" and p.severity == "warning"


def test_missing_feature_values_warn_and_constant_feature():
    frame = read_table(GOOD.encode())
    frame.loc[:9, "age"] = np.nan
    frame["const"] = 1
    p = problem(frame, "missing_values")
    assert p.column == "age" and "imputed" in p.message
    assert problem(frame, "feature_constant").column == "const"


def test_row_and_column_limits_are_named():
    frame = read_table(GOOD.encode())
    p = problem(frame, "too_many_rows", limits=Limits(max_rows=10))
    assert "10" in p.message and p.severity == "error"
    p = problem(frame, "too_many_columns", limits=Limits(max_columns=3))
    assert "3" in p.message


def test_sensitive_missing_values_form_their_own_group():
    frame = read_table(GOOD.encode())
    frame.loc[:2, "sex"] = np.nan
    p = problem(frame, "sensitive_missing_values")
    assert "(missing)" in p.message


def test_validate_never_raises_on_garbage():
    weird = pd.DataFrame({"label": [None, None], "sex": [1, 1]})
    out = validate(weird, SPEC)
    assert errors(out)


def test_errors_come_first_and_str_is_readable():
    frame = read_table(GOOD.encode())
    frame["label"] = "yes"
    frame.loc[:3, "age"] = np.nan
    out = validate(frame, SPEC)
    assert out[0].severity == "error"
    assert str(out[0]).startswith("ERROR [label]")


def test_binary_target_matches_positive_label_across_types():
    frame = pd.DataFrame({"y": [1, 0, 1, None], "s": list("abab")})
    spec = DatasetSpec(target="y", positive_label="1", sensitive=["s"])
    assert binary_target(frame, spec).tolist() == [1, 0, 1, -1]
