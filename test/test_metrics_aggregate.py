"""Category x level accumulation: worked example through markdown, CSV, JSON and PNG."""

import csv
import dataclasses
import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from frs_ros.metrics import MetricsAccumulator, SampleResult, score_sample

SHAPE = (400, 400)


def square(left: int = 150) -> np.ndarray:
    m = np.zeros(SHAPE, bool)
    m[150:250, left : left + 100] = True
    return m


@pytest.fixture(scope="module")
def acc() -> MetricsAccumulator:
    """Worked example (values derived by hand below):

    semantic/L1  s1 exact square            J 1,     F 1,     I 10000, U 10000, area 10000
    semantic/L1  s2 square shifted by 12 px  J 11/14, F 0.495, I 8800,  U 11200, area 10000
    semantic/L1  s4 negative, 20 x 100 false positive                          area 2000
    spatial/L2   s3 empty prediction         J 0,     F 0,     I 0,     U 10000, area 0
    temporal/L3  s5 2-frame video: exact, then empty/empty: J 1, F 1, I 10000, U 10000
    """
    a = MetricsAccumulator()
    empty = np.zeros(SHAPE, bool)
    fp = empty.copy()
    fp[0:20, 0:100] = True
    a.add("s1", "semantic", 1, square(), square())
    a.add("s2", "semantic", 1, square(162), square())
    a.add("s3", "spatial", 2, empty, square())
    a.add("s4", "semantic", 1, fp, empty, negative=True)
    a.add("s5", "temporal", 3, np.stack([square(), empty]), np.stack([square(), empty]))
    return a


SEM_L1 = {
    "gIoU": (1 + 11 / 14) / 2,
    "cIoU": 18800 / 21200,
    "J": (1 + 11 / 14) / 2,
    "F": (1 + 0.495) / 2,
    "J&F": ((1 + 11 / 14) / 2 + (1 + 0.495) / 2) / 2,
    "R": 1 - 2000 / 20000,
}
POOLED = {
    "gIoU": (1 + 11 / 14 + 0 + 1) / 4,
    "cIoU": 28800 / 41200,
    "J": (1 + 11 / 14 + 0 + 1) / 4,
    "F": (1 + 0.495 + 0 + 1) / 4,
    "R": 1 - 2000 / 30000,
}


def test_cells_and_averages(acc):
    cell = acc.cell("semantic", 1)
    assert (cell["n"], cell["n_pos"], cell["n_neg"]) == (3, 2, 1)
    for metric, value in SEM_L1.items():
        assert cell[metric] == pytest.approx(value), metric
    assert acc.cell("spatial", 2)["J&F"] == 0.0
    assert math.isnan(acc.cell("spatial", 2)["R"])  # no negatives there
    assert math.isnan(acc.cell("spatial", 1)["J"])  # no samples there
    grid = acc.grid("J")
    assert grid[("semantic", "Avg.")] == pytest.approx(SEM_L1["J"])
    assert grid[("Avg.", 1)] == pytest.approx(SEM_L1["J"])
    assert grid[("Avg.", 2)] == 0.0
    assert grid[("Avg.", 3)] == 1.0
    # Corner: unweighted mean of the non-empty cells, as the paper's Avg. columns.
    assert grid[("Avg.", "Avg.")] == pytest.approx((SEM_L1["J"] + 0 + 1) / 3)
    total = acc.overall()
    assert (total["n"], total["n_pos"], total["n_neg"]) == (5, 4, 1)
    for metric, value in POOLED.items():
        assert total[metric] == pytest.approx(value), metric


def test_markdown(acc):
    md = acc.to_markdown(metrics=("J", "F", "J&F", "R"))
    j_table = md.split("**J**")[1].split("**F**")[0]
    assert "| Category | Level 1 | Level 2 | Level 3 | Avg. |" in j_table
    assert "| Semantic | 0.893 | - | - | 0.893 |" in j_table
    assert "| Spatial | - | 0.000 | - | 0.000 |" in j_table
    assert "| Temporal | - | - | 1.000 | 1.000 |" in j_table
    assert "| Avg. | 0.893 | 0.000 | 1.000 | 0.631 |" in j_table
    assert "| Semantic | 0.748 | - | - | 0.748 |" in md.split("**F**")[1]
    assert "| Semantic | 0.820 | - | - | 0.820 |" in md.split("**J&F**")[1]
    assert "| Semantic | 0.900 | - | - | 0.900 |" in md.split("**R**")[1]
    assert "| Semantic | 2 / 1 | 0 / 0 | 0 / 0 | 2 / 1 |" in md
    assert "| Total | 2 / 1 | 1 / 0 | 1 / 0 | 4 / 1 |" in md
    assert "Pooled over all 5 samples" in md and "cIoU 0.699" in md


def test_csv(acc, tmp_path):
    path = acc.write_csv(tmp_path / "metrics.csv")
    rows = {(r["category"], r["level"]): r for r in csv.DictReader(path.open())}
    assert len(rows) == 9 + 3 + 3 + 1 + 1
    sem = rows[("semantic", "1")]
    assert int(sem["n"]) == 3
    for metric, value in SEM_L1.items():
        assert float(sem[metric]) == pytest.approx(value), metric
    assert rows[("spatial", "1")]["J"] == ""  # empty cell
    assert float(rows[("Avg.", "Avg.")]["J"]) == pytest.approx((SEM_L1["J"] + 1) / 3)
    assert int(rows[("Avg.", "Avg.")]["n"]) == 5
    assert float(rows[("all", "all")]["cIoU"]) == pytest.approx(POOLED["cIoU"])


def test_json(acc, tmp_path):
    path = acc.write_json(tmp_path / "metrics.json", include_samples=True)
    data = json.loads(path.read_text())
    assert data["categories"] == ["semantic", "spatial", "temporal"]
    assert data["levels"] == [1, 2, 3]
    rows = {(r["category"], r["level"]): r for r in data["rows"]}
    for metric, value in SEM_L1.items():
        assert rows[("semantic", 1)][metric] == pytest.approx(value)
    assert rows[("spatial", 1)]["J"] is None
    assert rows[("all", "all")]["R"] == pytest.approx(POOLED["R"])
    samples = {s["sample_id"]: s for s in data["samples"]}
    assert samples["s2"]["f"] == pytest.approx(0.495)
    assert samples["s4"] == {
        "sample_id": "s4",
        "category": "semantic",
        "level": 1,
        "negative": True,
        "j": 0.0,
        "f": 0.0,
        "intersection": 0,
        "union": 2000,
        "pred_area": 2000,
        "n_frames": 1,
    }
    # Samples read back reproduce the table.
    again = MetricsAccumulator()
    for s in data["samples"]:
        again.add_result(SampleResult(**s))
    for row, expected in zip(again.rows(), acc.rows(), strict=True):
        assert row == pytest.approx(expected, nan_ok=True)


def test_png(acc, tmp_path):
    path = acc.plot_bars(tmp_path / "jf.png", metric="J&F")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as img:
        img.verify()
    with Image.open(path) as img:
        assert img.format == "PNG" and img.width > 200 and img.height > 200


def test_video_sample_iou_is_volume_iou_and_j_is_frame_mean():
    gt = np.zeros((2, 30, 30), bool)
    gt[0, 0:10, 0:10] = True  # 100 px
    gt[1, 10:30, 10:25] = True  # 300 px
    pred = gt.copy()
    pred[1] = False  # frame 1 missed: J_0 = 1, J_1 = 0
    r = score_sample("v", "temporal", 2, pred, gt)
    assert (r.n_frames, r.intersection, r.union, r.pred_area) == (2, 100, 400, 100)
    assert r.j == 0.5 and r.f == 0.5
    assert r.iou == 0.25
    acc = MetricsAccumulator()
    acc.add_result(r)
    cell = acc.cell("temporal", 2)
    assert (cell["J"], cell["gIoU"], cell["cIoU"]) == (0.5, 0.25, 0.25)


@given(
    st.tuples(st.integers(1, 20), st.integers(1, 20)).flatmap(
        lambda s: st.tuples(arrays(np.bool_, s), arrays(np.bool_, s))
    )
)
def test_single_sample_ciou_equals_giou_and_jf_in_unit_interval(pair):
    acc = MetricsAccumulator()
    acc.add("x", "spatial", 3, *pair)
    cell = acc.cell("spatial", 3)
    assert cell["cIoU"] == pytest.approx(cell["gIoU"])
    assert 0.0 <= cell["J&F"] <= 1.0


def test_bad_records_raise_clear_errors():
    acc = MetricsAccumulator()
    m = np.ones((8, 8), bool)
    acc.add("a", "semantic", 1, m, m)
    with pytest.raises(ValueError, match="already added"):
        acc.add("a", "semantic", 1, m, m)
    with pytest.raises(ValueError, match="category"):
        acc.add("b", "counterfactual", 1, m, m)
    with pytest.raises(ValueError, match="level"):
        acc.add("b", "semantic", 4, m, m)
    with pytest.raises(ValueError, match="empty ground truth"):
        acc.add("b", "semantic", 1, m, m, negative=True)
    with pytest.raises(ValueError, match="frames"):
        acc.add("b", "semantic", 1, np.stack([m, m]), m[None])
    with pytest.raises(ValueError, match="not a regular"):
        acc.add("b", "semantic", 1, [[1, 0], [1]], m)
    with pytest.raises(ValueError, match=r"\(H, W\) mask or a \[T, H, W\] video"):
        acc.add("b", "semantic", 1, m[None, None], m[None, None])
    with pytest.raises(ValueError, match="metric"):
        acc.grid("mIoU")
    with pytest.raises(TypeError, match="SampleResult"):
        acc.add_result({"sample_id": "c"})
    with pytest.raises(ValueError, match="j must be"):
        SampleResult("c", "semantic", 1, False, j=1.5, f=0.5, intersection=0, union=0, pred_area=0)
    with pytest.raises(ValueError, match="intersection"):
        SampleResult("c", "semantic", 1, False, j=0.5, f=0.5, intersection=5, union=3, pred_area=3)
    assert len(acc) == 1


def test_custom_categories_and_levels_for_image_benchmarks():
    # e.g. Table 4 of the FastReasonSeg seed: short / long queries, one level.
    acc = MetricsAccumulator(categories=("short", "long"), levels=(1,))
    m = np.zeros((10, 10), bool)
    m[2:6, 2:6] = True
    acc.add("q", "long", 1, m, m)
    md = acc.to_markdown(metrics=("gIoU", "cIoU"))
    assert "| Long | 1.000 | 1.000 |" in md and "| Short | - | - |" in md


def _result(i: int, j: float, negative: bool = False, pred_area: int = 0, cat="semantic"):
    from frs_ros.metrics import SampleResult

    if negative:
        return SampleResult(
            f"n{i}", cat, 1, True, 1.0 if pred_area == 0 else 0.0, 1.0, 0, pred_area, pred_area
        )
    inter = round(100 * j)
    return SampleResult(f"p{i}", cat, 1, False, j, j, inter, 100, max(pred_area, inter))


def test_bootstrap_interval_of_a_known_case():
    from scipy import stats

    from frs_ros.metrics.aggregate import bootstrap_ci

    # 100 positives, half right (J 1) and half wrong (J 0): the mean is 0.5 and its 95 %
    # interval is about 0.5 +- 1.96 * sqrt(0.25 / 100) = [0.40, 0.60]
    results = [_result(i, float(i % 2)) for i in range(100)]
    ci = bootstrap_ci(results, n_resamples=2000, seed=1)
    value, lo, hi = ci["J"]
    assert value == 0.5 and ci["gIoU"][0] == 0.5 and ci["success"][0] == 0.5
    assert lo == pytest.approx(0.40, abs=0.015) and hi == pytest.approx(0.60, abs=0.015)
    ref = stats.bootstrap(
        ([r.j for r in results],), np.mean, n_resamples=2000, method="percentile", rng=1
    ).confidence_interval
    assert lo == pytest.approx(ref.low, abs=0.02) and hi == pytest.approx(ref.high, abs=0.02)
    again = bootstrap_ci(results, n_resamples=2000, seed=1)  # seeded
    assert all(again[m] == ci[m] for m in ("J", "gIoU", "success"))
    assert np.isnan(ci["R"][0]) and np.isnan(ci["rejection"][0])  # no negatives: no R


def test_bootstrap_r_and_rejection_and_degenerate_intervals():
    from frs_ros.metrics.aggregate import bootstrap_ci

    perfect = [_result(i, 1.0, pred_area=100) for i in range(10)]
    perfect += [_result(i, 0.0, negative=True) for i in range(5)]
    ci = bootstrap_ci(perfect, n_resamples=200)
    assert ci["J"] == (1.0, 1.0, 1.0) and ci["R"] == (1.0, 1.0, 1.0)
    assert ci["rejection"] == (1.0, 1.0, 1.0) and ci["success"] == (1.0, 1.0, 1.0)
    # every negative answered with 50 pixels: R = 1 - 250 / 1000, nothing rejected
    leaky = perfect[:10] + [_result(i, 0.0, negative=True, pred_area=50) for i in range(5)]
    acc = MetricsAccumulator()
    for r in leaky:
        acc.add_result(r)
    ci = bootstrap_ci(leaky, n_resamples=500)
    assert ci["R"][0] == pytest.approx(acc.overall()["R"]) == pytest.approx(0.75)
    assert ci["R"][1] < 0.75 < ci["R"][2] and ci["rejection"][0] == 0.0
    assert ci["success"][0] == pytest.approx(10 / 15)
    md = acc.ci_markdown(n_resamples=100)
    assert "| All | 10 / 5 |" in md and "| Semantic | 10 / 5 |" in md
    assert "| Spatial | 0 / 0 | - | - | - | - | - |" in md  # no samples, no interval


def test_paired_difference_is_narrower_than_two_separate_intervals():
    from frs_ros.metrics.aggregate import bootstrap_ci, paired_bootstrap_diff

    rng = np.random.default_rng(3)
    hardness = rng.uniform(0.0, 1.0, 60)  # the same samples are hard for both methods
    base = [_result(i, float(h)) for i, h in enumerate(hardness)]
    better = [_result(i, min(1.0, float(h) + 0.1)) for i, h in enumerate(hardness)]
    diff = paired_bootstrap_diff(base, list(reversed(better)), n_resamples=1000, seed=2)
    value, lo, hi = diff["J"]
    expected = np.mean([b.j for b in better]) - np.mean([b.j for b in base])
    assert value == pytest.approx(expected) and 0.0 < lo <= value <= hi
    # separately, the two intervals overlap; paired, the gain is clearly above zero
    assert bootstrap_ci(better, seed=2)["J"][1] < bootstrap_ci(base, seed=2)["J"][2]
    assert hi - lo < 0.5 * (bootstrap_ci(base, seed=2)["J"][2] - bootstrap_ci(base, seed=2)["J"][1])
    same = paired_bootstrap_diff(base, base, n_resamples=200)
    assert same["J"] == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="same samples"):
        paired_bootstrap_diff(base, better[:-1])
    flipped = [dataclasses.replace(_result(0, 0.0, negative=True), sample_id="p0"), *better[1:]]
    with pytest.raises(ValueError, match="negatives"):
        paired_bootstrap_diff(base, flipped)
