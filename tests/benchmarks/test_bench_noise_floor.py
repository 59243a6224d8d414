"""The chance-gap benchmark: both ways measured on a small draw, with the same figures."""

from benchmarks.noise_floor import compare


def test_compare_measures_the_chunked_and_one_call_chance_gap():
    table = compare(rows=3_000, n_sim=20)  # compare() checks the two give the same figures
    (row,) = table.to_dict(orient="records")
    assert row["rows"] == 3_000 and row["n_sim"] == 20
    assert row["chunked_s"] > 0 and row["one_call_s"] > 0 and row["chunked_gib"] > 0 and row["one_call_gib"] > 0
