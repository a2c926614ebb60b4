"""The OCT HDF5 layout: labels from boundaries, round trips, and one-line errors on bad files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from pixelwise.apps.oct.layout import IGNORE, OctData, labels_from_boundaries, read_oct, write_oct
from pixelwise.apps.oct.phantom import PhantomConfig, simulate
from pixelwise.cli.main import main
from pixelwise.errors import InputError


def test_labels_follow_boundaries_and_ignore_unannotated_columns():
    rows = np.array([[[2.0, 1.5, np.nan], [5.0, 3.2, 4.0]]], np.float32)
    labels = labels_from_boundaries(rows, 7)[0]
    assert labels[:, 0].tolist() == [0, 0, 1, 1, 1, 2, 2]  # row 2 is the ILM: retina from it
    assert labels[:, 1].tolist() == [0, 0, 1, 1, 2, 2, 2]  # 1.5 -> rows 0, 1 above
    assert (labels[:, 2] == IGNORE).all()  # ILM not annotated: the whole column is ignored


def test_phantom_round_trip_keeps_everything(tmp_path):
    data = simulate(PhantomConfig(height=64, width=80), count=3, seed=5)
    again = read_oct(write_oct(tmp_path / "p.h5", data))
    assert again.bscans.dtype == np.uint8
    np.testing.assert_array_equal(again.bscans, data.bscans)
    np.testing.assert_array_equal(again.boundaries, data.boundaries)
    assert again.scale_axial_um == pytest.approx(3.87)
    assert (data.boundaries[:, 0] < data.boundaries[:, 1]).all()
    # the same seed gives the same scans; another seed does not
    np.testing.assert_array_equal(
        simulate(PhantomConfig(height=64, width=80), 3, 5).bscans, data.bscans
    )
    assert not np.array_equal(
        simulate(PhantomConfig(height=64, width=80), 3, 6).bscans, data.bscans
    )


def _write(path, **datasets):
    with h5py.File(path, "w") as h5:
        for name, value in datasets.items():
            h5.create_dataset(name, data=value)
    return path


GOOD = np.zeros((2, 10, 6), np.uint8)
ROWS = np.tile(np.array([2.0, 6.0], np.float32)[None, :, None], (2, 1, 6))


@pytest.mark.parametrize(
    ("datasets", "message"),
    [
        ({"images": GOOD}, "no dataset '/bscans' (datasets: images)"),
        ({"bscans": GOOD[0]}, "bscans must be (N, H, W)"),
        ({"bscans": np.full((2, 10, 6), np.nan, np.float32)}, "holds NaN or Inf"),
        ({"bscans": GOOD, "boundaries": ROWS[:1]}, "must be (N, 2, W) = (2, 2, 6)"),
        ({"bscans": GOOD, "boundaries": ROWS + 8}, "lies outside the image"),
        ({"bscans": GOOD, "boundaries": ROWS[:, ::-1]}, "BM (2) lies above ILM (6)"),
        ({"bscans": GOOD.astype(np.int16)}, "must be uint8 or float"),
    ],
)
def test_bad_files_give_one_line_naming_the_file(tmp_path, datasets, message):
    path = _write(tmp_path / "bad.h5", **datasets)
    with pytest.raises(InputError) as caught:
        read_oct(path)
    assert str(caught.value).startswith(str(path))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_cli_reports_bad_input_in_one_line_and_writes_nothing(tmp_path, capsys):
    bad = _write(tmp_path / "bad.h5", bscans=GOOD, boundaries=ROWS[:, ::-1])
    out = tmp_path / "out.h5"
    with pytest.raises(SystemExit) as code:
        main(["oct", "convert", str(bad), "-o", str(out)])
    assert code.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bad.h5" in err and "BM" in err
    assert not out.exists()


def test_float_bscans_must_be_unit_range():
    with pytest.raises(InputError, match=r"must lie in \[0, 1\]"):
        OctData(np.full((1, 4, 4), 3.0, np.float32), source="x.h5")
