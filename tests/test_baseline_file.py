"""The baseline file is read whole or refused: a file cut anywhere, edited into another shape,
or written by a newer memwise is an error naming the key or line, never fewer figures."""

from __future__ import annotations

from pathlib import Path

import pytest
from memwise.gate import baseline

RECORDS = {
    "3.11-linux-x86_64": baseline.Record(
        {"workload peak": 11_975_000, "workload total allocated": 52_123_456,
         "tests/test_store.py::test_bulk_load peak": 33_580_000},
        {"workload peak": 1_200, "workload total allocated": 0,
         "tests/test_store.py::test_bulk_load peak": 4_000},
        {"render_report (src/svc/handler.py)": 11_420_000},
        runs=5,
    ),
    "3.13-darwin-arm64": baseline.Record(
        {"workload peak": 12_500_000}, {"workload peak": 900}, {}, runs=3
    ),
}  # fmt: skip


def whole(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "memory-baseline.toml"
    text = baseline.text(RECORDS)
    path.write_text(text, encoding="utf-8")
    return path, text


def test_a_whole_file_reads_back_as_written(tmp_path: Path) -> None:
    path, text = whole(tmp_path)
    assert baseline.read(path) == RECORDS
    assert "format = 1" in text


def test_a_file_cut_anywhere_is_refused_or_reads_the_same(tmp_path: Path) -> None:
    """Every prefix of the file (a truncated commit, a full disk, a bad merge): a cut inside a
    comment changes nothing; any other cut is an error, never a smaller figure or fewer."""
    path, text = whole(tmp_path)
    refused = 0
    for end in range(len(text)):
        path.write_text(text[:end], encoding="utf-8")
        try:
            assert baseline.read(path) == RECORDS, f"cut at {end}: {text[:end][-60:]!r}"
        except baseline.BaselineError:
            refused += 1
    assert refused > len(text) // 2


@pytest.mark.parametrize(
    ("cut_after", "message"),
    [
        ('method = "PYTHONMALLOC=malloc"\n', "its [end] table is missing"),
        ("# 0.00 MiB\n", "cut short or was edited: its [end] table is missing"),
        ('workload peak" = 1', "cut short"),
    ],
)
def test_the_cases_seen_name_what_is_wrong(tmp_path: Path, cut_after: str, message: str) -> None:
    path, text = whole(tmp_path)
    path.write_text(text[: text.index(cut_after) + len(cut_after)], encoding="utf-8")
    with pytest.raises(baseline.BaselineError, match=r"memory-baseline\.toml") as error:
        baseline.read(path)
    assert message in str(error.value)
    assert "nox -s baseline" in str(error.value)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("format = 1", "format = 2"), "written by a newer memwise (baseline format 2"),
        (('"workload peak" = 900', '"workload peek" = 900'), "figures and noise must name"),
        (("= 1200", "= -1200"), '"workload peak" = -1200 is not a size in bytes'),
        (("= 1200", "= 1200.5"), "is not a size in bytes"),
        (("runs = 5", "runs = 0"), "runs must be a whole number"),
        (("environments = 2", "environments = 1"), "counts 1 environment(s), the file holds 2"),
    ],
)
def test_an_edited_file_names_the_key(tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    path, text = whole(tmp_path)
    assert edit[0] in text
    path.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    with pytest.raises(baseline.BaselineError) as error:
        baseline.read(path)
    assert message in str(error.value)
    if "newer" in message:
        assert "update memwise" in str(error.value)


def test_a_file_of_the_release_before_still_reads(tmp_path: Path) -> None:
    """memwise 0.3 wrote no format and no [end]: its whole files still read (and are held to
    complete tables); `nox -s baseline` writes the current format."""
    path, text = whole(tmp_path)
    old = text.replace("format = 1\n", "").split("\n[end]")[0] + "\n"
    path.write_text(old, encoding="utf-8")
    assert baseline.read(path) == RECORDS
    path.write_text(old.split('[environments."3.11-linux-x86_64".noise]')[0], encoding="utf-8")
    with pytest.raises(baseline.BaselineError, match="has no noise, sites"):
        baseline.read(path)
