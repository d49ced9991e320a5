"""Input validation of colour and depth frames (frs_ros.perception.frames)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from frs_ros.perception.frames import as_metric_depth, as_rgb


def test_rgb_passthrough_grey_and_rgba_conversion():
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    assert as_rgb(rgb) is not None and (as_rgb(rgb) == rgb).all()
    grey = np.array([[0, 128], [255, 7]], np.uint8)
    out = as_rgb(grey)
    assert out.shape == (2, 2, 3) and (out[..., 2] == grey).all()
    assert as_rgb(grey[..., None]).shape == (2, 2, 3)
    rgba = np.dstack([rgb, np.full((2, 3), 9, np.uint8)])
    assert (as_rgb(rgba) == rgb).all()


@pytest.mark.parametrize(
    ("image", "error"),
    [
        (np.zeros((0, 5, 3), np.uint8), ValueError),
        (np.zeros((4, 4, 3), np.float32), TypeError),
        (np.zeros((4, 4, 2), np.uint8), ValueError),
        ([[0, 1]], TypeError),
    ],
)
def test_rgb_rejects_bad_frames(image, error):
    with pytest.raises(error):
        as_rgb(image)


def test_rgb_rejects_huge_frames_instead_of_downscaling():
    with pytest.raises(ValueError, match="max_side"):
        as_rgb(np.zeros((4, 65, 3), np.uint8), max_side=64)


def test_depth_units_16uc1_millimetres_and_32fc1_metres():
    mm = np.array([[1000, 0], [2500, 65535]], np.uint16)
    np.testing.assert_allclose(as_metric_depth(mm, (2, 2)), [[1.0, 0.0], [2.5, 65.535]])
    m = np.array([[1.5, np.nan], [0.0, 3.0]], np.float32)
    out = as_metric_depth(m, (2, 2))
    assert out.dtype == np.float32 and np.isnan(out[0, 1]) and out[1, 1] == 3.0


def test_depth_of_other_size_same_aspect_is_resampled_nearest_with_warning(caplog):
    depth = np.array([[1, 2], [3, 4]], np.uint16) * 1000
    with caplog.at_level(logging.WARNING):
        out = as_metric_depth(depth, (4, 4))
    assert "resampled" in caplog.text
    np.testing.assert_array_equal(out, np.kron([[1.0, 2.0], [3.0, 4.0]], np.ones((2, 2))))


def test_depth_of_other_aspect_or_bad_dtype_is_rejected():
    with pytest.raises(ValueError, match="aspect"):
        as_metric_depth(np.ones((4, 4), np.float32), (4, 8))
    with pytest.raises(TypeError):
        as_metric_depth(np.ones((4, 4), np.int32), (4, 4))
    with pytest.raises(ValueError):
        as_metric_depth(np.ones((4, 4, 2), np.float32), (4, 4))
