"""Accumulate per-sample scores into category x level tables (docs/DESIGN.md §6).

The layout follows Tables 1-4 of the FastReasonSeg seed: reasoning category (semantic /
spatial / temporal) x difficulty level (1-3), each with an "Avg." row and column that is
the unweighted mean of the cells, as in the paper (e.g. its Table 1 Level-1 Avg. is the
mean of the three category values). Pooled ("overall") numbers over all samples are
reported next to it.

Definitions (per cell; all over the *positive* samples unless noted):
- gIoU: mean over samples of the sample IoU (survey eq. 6). A sample's IoU is
  Σ_t |P_t ∩ G_t| / Σ_t |P_t ∪ G_t| over its frames (the plain IoU for an image); 1 when
  both are empty.
- cIoU: Σ intersection / Σ union over samples and frames (survey eq. 4); 1 when the total
  union is 0.
- J, F: mean over samples of the per-sample J and F (each the mean over frames, eq. 14).
- J&F: (J + F) / 2 of the cell's J and F (eq. 16).
- R: robustness over the cell's *negative* samples (their whole predicted area is false
  positive), normalised by the predicted area on the cell's positive samples.
Negative samples (the target is absent from the scene) enter only R, as in the benchmark
the survey takes R from; a cell without positives has no region metrics (NaN, shown "-"),
a cell without negatives has no R.

Only per-sample scalars are kept, never masks, so memory is O(samples) and small.

Confidence intervals (``bootstrap_ci``): percentile bootstrap over samples (resampled with
replacement, positives and negatives together, so R's two sums move jointly), seeded, for
J, gIoU, R, the success rate (the paper's accuracy: the sample IoU > 0.5, over all samples;
a negative succeeds when nothing is predicted) and the rejection rate (negatives with no
predicted pixel). ``paired_bootstrap_diff`` gives the interval of the difference between
two methods on the same samples, resampled together.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from frs_ros.metrics.masks import BOUND_TH, MaskLike, as_mask, boundary_f, iou_counts, robustness

CATEGORIES: tuple[str, ...] = ("semantic", "spatial", "temporal")
LEVELS: tuple[int, ...] = (1, 2, 3)
#: Metric names, in table order.
METRICS: tuple[str, ...] = ("gIoU", "cIoU", "J", "F", "J&F", "R")
AVG = "Avg."
#: Metrics with bootstrap confidence intervals, in table order.
CI_METRICS: tuple[str, ...] = ("J", "gIoU", "R", "success", "rejection")
SUCCESS_IOU = 0.5


@dataclass(frozen=True)
class SampleResult:
    """Scalar scores of one sample (an image or a video with one query).

    ``j`` and ``f`` are means over frames; ``intersection``, ``union`` and ``pred_area``
    are pixel counts summed over frames.
    """

    sample_id: str
    category: str
    level: int
    negative: bool
    j: float
    f: float
    intersection: int
    union: int
    pred_area: int
    n_frames: int = 1

    def __post_init__(self) -> None:
        for name in ("j", "f"):
            value = getattr(self, name)
            if not isinstance(value, int | float | np.floating) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
        for name in ("intersection", "union", "pred_area", "n_frames"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if self.intersection > self.union:
            raise ValueError(f"intersection {self.intersection} > union {self.union}")
        if self.pred_area > self.union:
            raise ValueError(f"pred_area {self.pred_area} > union {self.union}")
        if self.n_frames < 1:
            raise ValueError("n_frames must be at least 1")
        if self.negative and (self.intersection != 0 or self.union != self.pred_area):
            # gt empty <=> nothing to intersect and the union is the prediction alone.
            raise ValueError(
                f"negative sample {self.sample_id!r} must have an empty ground truth "
                f"(intersection 0 and union == pred_area), got intersection="
                f"{self.intersection}, union={self.union}, pred_area={self.pred_area}"
            )

    @property
    def iou(self) -> float:
        """The sample IoU over all its frames (1 when prediction and truth are both empty)."""
        return 1.0 if self.union == 0 else self.intersection / self.union


def _as_frames(x: MaskLike, name: str) -> list[np.ndarray]:
    """An (H, W) mask is a one-frame sample; a [T, H, W] array (or nested list) a video."""
    try:
        arr = x if isinstance(x, np.ndarray) else np.asarray(x)
    except ValueError as err:  # ragged nested lists
        raise ValueError(f"{name} is not a regular (H, W) or [T, H, W] array: {err}") from err
    if arr.ndim == 2:
        return [arr]
    if arr.ndim == 3:
        if arr.shape[0] == 0:
            raise ValueError(f"{name} has no frames")
        return list(arr)
    raise ValueError(f"{name} must be an (H, W) mask or a [T, H, W] video, got shape {arr.shape}")


def score_sample(
    sample_id: str,
    category: str,
    level: int,
    pred: MaskLike,
    gt: MaskLike,
    *,
    negative: bool = False,
    bound_th: float = BOUND_TH,
) -> SampleResult:
    """Score one sample from its masks: ``pred``/``gt`` are (H, W) or [T, H, W]."""
    preds, gts = _as_frames(pred, "pred"), _as_frames(gt, "gt")
    if len(preds) != len(gts):
        raise ValueError(f"pred has {len(preds)} frames but gt has {len(gts)}")
    js, fs, inter, union, area = [], [], 0, 0, 0
    for p, g in zip(preds, gts, strict=True):
        i, u = iou_counts(p, g)
        js.append(1.0 if u == 0 else i / u)
        fs.append(boundary_f(p, g, bound_th))
        inter, union, area = inter + i, union + u, area + int(np.count_nonzero(as_mask(p)))
    return SampleResult(
        sample_id=str(sample_id),
        category=category,
        level=level,
        negative=bool(negative),
        j=float(np.mean(js)),
        f=float(np.mean(fs)),
        intersection=inter,
        union=union,
        pred_area=area,
        n_frames=len(preds),
    )


def _mean(values: Iterable[float]) -> float:
    """Mean of the non-NaN values; NaN when there are none (without numpy's warning)."""
    vals = [v for v in values if not math.isnan(v)]
    return sum(vals) / len(vals) if vals else math.nan


def _metrics(results: Sequence[SampleResult]) -> dict[str, float | int]:
    pos = [r for r in results if not r.negative]
    neg = [r for r in results if r.negative]
    out: dict[str, float | int] = {"n": len(results), "n_pos": len(pos), "n_neg": len(neg)}
    if pos:
        inter = sum(r.intersection for r in pos)
        union = sum(r.union for r in pos)
        j, f = _mean(r.j for r in pos), _mean(r.f for r in pos)
        out |= {
            "gIoU": _mean(r.iou for r in pos),
            "cIoU": 1.0 if union == 0 else inter / union,
            "J": j,
            "F": f,
            "J&F": (j + f) / 2.0,
        }
    else:
        out |= dict.fromkeys(("gIoU", "cIoU", "J", "F", "J&F"), math.nan)
    out["R"] = (
        robustness([r.pred_area for r in neg], [r.pred_area for r in pos]) if neg else math.nan
    )
    return out


def _fmt(value: float, digits: int) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def _json_safe(row: dict[str, float | int | str]) -> dict[str, float | int | str | None]:
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}


def _check_bootstrap(n_resamples: int, confidence: float) -> None:
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def _resample_index(n: int, n_resamples: int, seed: int) -> np.ndarray:
    """A (1 + n_resamples, n) index matrix: row 0 is the sample itself, the rest resample
    it with replacement (seeded), so every metric is one vectorised computation."""
    rng = np.random.default_rng(seed)
    return np.vstack([np.arange(n)[None], rng.integers(0, n, size=(n_resamples, n))])


def _metrics_on(results: Sequence[SampleResult], idx: np.ndarray) -> dict[str, np.ndarray]:
    """CI_METRICS of ``results`` on each row of the index matrix ``idx``."""
    neg = np.array([r.negative for r in results], dtype=bool)
    cols = {
        "j": np.array([r.j for r in results]),
        "iou": np.array([r.iou for r in results]),
        "area": np.array([r.pred_area for r in results], dtype=np.float64),
    }
    return _resampled_metrics(neg[idx], {k: v[idx] for k, v in cols.items()})


def _intervals(
    values: dict[str, np.ndarray], confidence: float
) -> dict[str, tuple[float, float, float]]:
    """``metric -> (row 0's value, low, high)``: percentile interval of the other rows,
    leaving out the rows where the metric is undefined (NaN)."""
    alpha = (1.0 - confidence) / 2.0
    out = {}
    for name, v in values.items():
        boot = v[1:][~np.isnan(v[1:])]
        if math.isnan(v[0]) or boot.size == 0:
            out[name] = (float(v[0]), math.nan, math.nan)
            continue
        lo, hi = np.quantile(boot, [alpha, 1.0 - alpha])
        out[name] = (float(v[0]), float(lo), float(hi))
    return out


def bootstrap_ci(
    results: Sequence[SampleResult],
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, tuple[float, float, float]]:
    """``metric -> (value, low, high)`` for ``CI_METRICS``: the value on ``results`` and the
    percentile bootstrap interval (NaN when the metric is undefined, e.g. R without
    negatives). Resamples that happen to hold no positive (or no negative) are left out of
    that metric's interval."""
    _check_bootstrap(n_resamples, confidence)
    if not results:
        return dict.fromkeys(CI_METRICS, (math.nan, math.nan, math.nan))
    idx = _resample_index(len(results), n_resamples, seed)
    return _intervals(_metrics_on(results, idx), confidence)


def paired_bootstrap_diff(
    base: Sequence[SampleResult],
    other: Sequence[SampleResult],
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, tuple[float, float, float]]:
    """``metric -> (other - base, low, high)`` for ``CI_METRICS``: two methods scored on the
    same samples, resampled together (a paired bootstrap), so the interval is that of the
    difference, narrower than two separate intervals suggest when the methods agree on
    which samples are hard. ``other`` is matched to ``base`` by sample id."""
    _check_bootstrap(n_resamples, confidence)
    by_id = {r.sample_id: r for r in other}
    if len(by_id) != len(other) or sorted(by_id) != sorted(r.sample_id for r in base):
        raise ValueError("a paired comparison needs the same samples, each once, on both sides")
    paired = [by_id[r.sample_id] for r in base]
    if any(o.negative != b.negative for o, b in zip(paired, base, strict=True)):
        raise ValueError("the two sides disagree on which samples are negatives")
    if not base:
        return dict.fromkeys(CI_METRICS, (math.nan, math.nan, math.nan))
    idx = _resample_index(len(base), n_resamples, seed)
    a, b = _metrics_on(base, idx), _metrics_on(paired, idx)
    return _intervals({name: b[name] - a[name] for name in a}, confidence)


def _resampled_metrics(neg: np.ndarray, cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """CI_METRICS per row of a (resamples, n) index matrix (NaN where undefined)."""
    pos = ~neg
    n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        j = np.where(n_pos > 0, (cols["j"] * pos).sum(axis=1) / n_pos, np.nan)
        giou = np.where(n_pos > 0, (cols["iou"] * pos).sum(axis=1) / n_pos, np.nan)
        fp, tp_area = (cols["area"] * neg).sum(axis=1), (cols["area"] * pos).sum(axis=1)
        # robustness(): 1 - fp / predicted area on positives, clamped; no area: 1 iff no fp
        r = np.where(tp_area > 0, np.maximum(0.0, 1.0 - fp / tp_area), (fp == 0).astype(float))
        r = np.where(n_neg > 0, r, np.nan)
        rejected = ((cols["area"] == 0) & neg).sum(axis=1)
        rejection = np.where(n_neg > 0, rejected / n_neg, np.nan)
    success = (cols["iou"] > SUCCESS_IOU).mean(axis=1)
    return {"J": j, "gIoU": giou, "R": r, "success": success, "rejection": rejection}


class MetricsAccumulator:
    """Collects per-sample scores and reports them per category x level.

    >>> acc = MetricsAccumulator()
    >>> acc.add("q1", "semantic", 1, pred_mask, gt_mask)             # doctest: +SKIP
    >>> acc.add("q2", "temporal", 3, pred_video, gt_video)           # [T, H, W]  +SKIP
    >>> acc.add("q3", "spatial", 2, pred_mask, empty, negative=True)  # doctest: +SKIP
    >>> print(acc.to_markdown())                                      # doctest: +SKIP
    """

    def __init__(
        self,
        categories: Sequence[str] = CATEGORIES,
        levels: Sequence[int] = LEVELS,
        bound_th: float = BOUND_TH,
    ) -> None:
        if not categories or not levels:
            raise ValueError("categories and levels must not be empty")
        if len(set(categories)) != len(categories) or len(set(levels)) != len(levels):
            raise ValueError("categories and levels must not repeat")
        self.categories = tuple(categories)
        self.levels = tuple(levels)
        self.bound_th = bound_th
        self._results: dict[str, SampleResult] = {}

    def __len__(self) -> int:
        return len(self._results)

    @property
    def results(self) -> tuple[SampleResult, ...]:
        return tuple(self._results.values())

    def add(
        self,
        sample_id: str,
        category: str,
        level: int,
        pred: MaskLike,
        gt: MaskLike,
        *,
        negative: bool = False,
    ) -> SampleResult:
        """Score a sample from its masks ((H, W) or [T, H, W]) and record it."""
        self._check_key(sample_id, category, level)
        result = score_sample(
            sample_id, category, level, pred, gt, negative=negative, bound_th=self.bound_th
        )
        self._results[result.sample_id] = result
        return result

    def add_result(self, result: SampleResult) -> None:
        """Record a sample scored elsewhere (e.g. precomputed, or read back from a file)."""
        if not isinstance(result, SampleResult):
            raise TypeError(f"expected a SampleResult, got {type(result).__name__}")
        self._check_key(result.sample_id, result.category, result.level)
        self._results[result.sample_id] = result

    def _check_key(self, sample_id: str, category: str, level: int) -> None:
        if category not in self.categories:
            raise ValueError(f"unknown category {category!r}; expected one of {self.categories}")
        if isinstance(level, bool) or level not in self.levels:
            raise ValueError(f"unknown level {level!r}; expected one of {self.levels}")
        if str(sample_id) in self._results:
            raise ValueError(f"sample {sample_id!r} was already added (counted twice?)")

    # ------------------------------------------------------------------ summaries

    def cell(self, category: str, level: int) -> dict[str, float | int]:
        """Counts and metrics of one category x level cell."""
        if category not in self.categories or level not in self.levels:
            raise ValueError(f"no cell ({category!r}, {level!r}) in this table")
        return _metrics(
            [r for r in self._results.values() if r.category == category and r.level == level]
        )

    def overall(self) -> dict[str, float | int]:
        """Counts and metrics pooled over all samples (micro average)."""
        return _metrics(list(self._results.values()))

    def _cells(self) -> dict[tuple[str, int], dict[str, float | int]]:
        groups: dict[tuple[str, int], list[SampleResult]] = {
            (c, lv): [] for c in self.categories for lv in self.levels
        }
        for r in self._results.values():
            groups[(r.category, r.level)].append(r)
        return {key: _metrics(group) for key, group in groups.items()}

    def grid(self, metric: str) -> dict[tuple[str, int | str], float]:
        """``metric`` per (category, level), plus the "Avg." row and column.

        Keys are (category, level), (category, "Avg."), ("Avg.", level) and ("Avg.", "Avg.");
        averages are unweighted means of the non-empty cells (the corner: of all of them).
        """
        return self._grid(self._cells(), metric)

    def _grid(
        self, table: dict[tuple[str, int], dict[str, float | int]], metric: str
    ) -> dict[tuple[str, int | str], float]:
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")
        cells: dict[tuple[str, int | str], float] = {
            key: float(values[metric]) for key, values in table.items()
        }
        out = dict(cells)
        for c in self.categories:
            out[(c, AVG)] = _mean(cells[(c, lv)] for lv in self.levels)
        for lv in self.levels:
            out[(AVG, lv)] = _mean(cells[(c, lv)] for c in self.categories)
        out[(AVG, AVG)] = _mean(cells.values())
        return out

    def rows(self) -> list[dict[str, float | int | str]]:
        """One flat record per cell, per average and for the pooled total (CSV/JSON rows).

        Counts of "Avg." rows are the sums over the cells they average.
        """
        counts = self._cells()
        grids = {m: self._grid(counts, m) for m in METRICS}
        keys: list[tuple[str, int | str]] = [(c, lv) for c in self.categories for lv in self.levels]
        keys += [(c, AVG) for c in self.categories] + [(AVG, lv) for lv in self.levels]
        keys.append((AVG, AVG))
        rows: list[dict[str, float | int | str]] = []
        for c, lv in keys:
            members = [counts[k] for k in counts if c in (AVG, k[0]) and lv in (AVG, k[1])]
            row: dict[str, float | int | str] = {"category": c, "level": lv}
            row |= {n: sum(int(m[n]) for m in members) for n in ("n", "n_pos", "n_neg")}
            row |= {m: grids[m][(c, lv)] for m in METRICS}
            rows.append(row)
        rows.append({"category": "all", "level": "all"} | self.overall())
        return rows

    def _ci_scopes(
        self, n_resamples: int, confidence: float, seed: int
    ) -> list[tuple[str, list[SampleResult], dict[str, tuple[float, float, float]]]]:
        """(scope, its samples, ``bootstrap_ci`` of them): all samples, then each category."""
        scopes: list[tuple[str, list[SampleResult]]] = [("all", list(self._results.values()))]
        scopes += [
            (c, [r for r in self._results.values() if r.category == c]) for c in self.categories
        ]
        return [
            (
                name,
                members,
                bootstrap_ci(members, n_resamples=n_resamples, confidence=confidence, seed=seed),
            )
            for name, members in scopes
        ]

    def confidence_intervals(
        self, *, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0
    ) -> list[dict[str, object]]:
        """Bootstrap intervals (``bootstrap_ci``) over all samples, then per category: one
        record each with the counts and ``metric -> (value, low, high)``."""
        rows: list[dict[str, object]] = []
        for name, members, intervals in self._ci_scopes(n_resamples, confidence, seed):
            row: dict[str, object] = {
                "scope": name,
                "n_pos": sum(not r.negative for r in members),
                "n_neg": sum(r.negative for r in members),
            }
            row |= intervals
            rows.append(row)
        return rows

    def ci_markdown(
        self, *, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0, digits: int = 3
    ) -> str:
        """Markdown: J, gIoU, R, success and rejection rates with their bootstrap intervals,
        overall and per category."""
        names = {"success": "Success (IoU > 0.5)", "rejection": "Rejection (negatives)"}
        pct = f"{100 * confidence:g} %"
        lines = [
            f"**{pct} bootstrap confidence intervals** ({n_resamples} resamples, seed {seed})",
            "",
            "| Scope | Samples (pos / neg) | "
            + " | ".join(names.get(m, m) for m in CI_METRICS)
            + " |",
            "|---|---:|" + "---:|" * len(CI_METRICS),
        ]
        for name, members, intervals in self._ci_scopes(n_resamples, confidence, seed):
            cells = []
            for m in CI_METRICS:
                value, lo, hi = intervals[m]
                cell = _fmt(value, digits)
                if not math.isnan(lo):
                    cell += f" [{lo:.{digits}f}, {hi:.{digits}f}]"
                cells.append(cell)
            scope = "All" if name == "all" else name.capitalize()
            n_neg = sum(r.negative for r in members)
            counts = f"{len(members) - n_neg} / {n_neg}"
            lines.append(f"| {scope} | {counts} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------------------ writers

    def to_markdown(self, metrics: Sequence[str] = ("J", "F", "J&F"), digits: int = 3) -> str:
        """Markdown: one category x level table per metric, then sample counts."""
        head = "| Category | " + " | ".join(f"Level {lv}" for lv in self.levels) + f" | {AVG} |"
        rule = "|---|" + "---:|" * (len(self.levels) + 1)
        columns: tuple[int | str, ...] = (*self.levels, AVG)
        parts: list[str] = []
        table = self._cells()
        for metric in metrics:
            grid = self._grid(table, metric)
            lines = [f"**{metric}**", "", head, rule]
            for c in (*self.categories, AVG):
                vals = [_fmt(grid[(c, lv)], digits) for lv in columns]
                lines.append(f"| {c.capitalize()} | " + " | ".join(vals) + " |")
            parts.append("\n".join(lines))
        lines = ["**Samples** (positive / negative)", "", head.replace(AVG, "Total"), rule]
        by_key = {(r["category"], r["level"]): r for r in self.rows()}
        for c in (*self.categories, AVG):
            vals = [f"{by_key[(c, lv)]['n_pos']} / {by_key[(c, lv)]['n_neg']}" for lv in columns]
            label = "Total" if c == AVG else c.capitalize()
            lines.append(f"| {label} | " + " | ".join(vals) + " |")
        parts.append("\n".join(lines))
        total = self.overall()
        pooled = ", ".join(f"{m} {_fmt(float(total[m]), digits)}" for m in METRICS)
        parts.append(f"Pooled over all {total['n']} samples: {pooled}.")
        return "\n\n".join(parts) + "\n"

    def write_csv(self, path: str | Path) -> Path:
        """Write :meth:`rows` as CSV (NaN as an empty field); returns the path."""
        path = Path(path)
        fields = ["category", "level", "n", "n_pos", "n_neg", *METRICS]
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            for row in self.rows():
                writer.writerow({k: "" if v is None else v for k, v in _json_safe(row).items()})
        return path

    def to_dict(self, include_samples: bool = False) -> dict:
        """JSON-safe summary (NaN becomes null); per-sample scores only when asked."""
        out: dict = {
            "categories": list(self.categories),
            "levels": list(self.levels),
            "bound_th": self.bound_th,
            "metrics": list(METRICS),
            "rows": [_json_safe(r) for r in self.rows()],
        }
        if include_samples:
            out["samples"] = [asdict(r) for r in self._results.values()]
        return out

    def write_json(self, path: str | Path, include_samples: bool = False) -> Path:
        """Write :meth:`to_dict` as JSON; returns the path."""
        path = Path(path)
        text = json.dumps(self.to_dict(include_samples), indent=2, allow_nan=False)
        path.write_text(text + "\n", encoding="utf-8")
        return path

    def plot_bars(self, path: str | Path, metric: str = "J&F") -> Path:
        """Grouped bar chart PNG of ``metric``: one group per level, one bar per category
        plus the level's "Avg."; empty cells draw no bar. Returns the path."""
        # Imported here so that importing the metrics never pays for matplotlib; the Figure
        # API with the Agg canvas leaves pyplot's global backend and state untouched.
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        grid = self.grid(metric)
        series = (*self.categories, AVG)
        x = np.arange(len(self.levels))
        width = 0.8 / len(series)
        fig = Figure(figsize=(1.8 + 1.6 * len(self.levels), 3.6))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        for k, c in enumerate(series):
            heights = [grid[(c, lv)] for lv in self.levels]
            bars = ax.bar(
                x + (k - (len(series) - 1) / 2) * width, heights, width, label=c.capitalize()
            )
            ax.bar_label(bars, labels=[_fmt(h, 2) for h in heights], fontsize=7, padding=1)
        ax.set_xticks(x, [f"Level {lv}" for lv in self.levels])
        ax.set_ylim(0.0, 1.25)  # headroom above 1.0 for the legend
        ax.set_yticks(np.linspace(0.0, 1.0, 6))
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} per category and level")
        ax.legend(fontsize=8, ncols=len(series), loc="upper center")
        fig.tight_layout()
        path = Path(path)
        fig.savefig(path, format="png", dpi=120)
        return path
