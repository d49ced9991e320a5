"""The checks every boundary where data enters applies (docs/DESIGN.md §10): twin JSON and
Twin messages, COCO RLE masks, benchmark JSONL, perception YAML, command-line numbers and
depth images. Each rule is written here once; a violation is a ``ValueError`` whose message
names the field (``where``), so a command line can print it as one line and exit 2, and a
ROS node can log it and drop the message.

This module imports nothing from ``frs_ros``: every layer, ``frs_ros.io`` included, may use it.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import types
from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np

#: ROS ``int32`` (track ids in TwinObject.msg, answers in ReasonResult.msg).
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
UINT32_MAX = 2**32 - 1

#: Largest mask (height * width) accepted by default: an 8192 x 8192 image, the perception
#: ``max_side`` default. pycocotools holds counts as 32-bit unsigned integers and decodes
#: into one byte per pixel, so the bound keeps both the arithmetic and the memory sane.
MAX_MASK_PIXELS = 8192 * 8192
#: Hard ceiling for ``max_pixels`` (pycocotools' counts are ``uint32``).
_PIXEL_CEILING = 2**31

#: Metric depth beyond this many metres is no measurement (no RGB-D sensor ranges further);
#: such pixels are treated like a missing return.
MAX_DEPTH_M = 1000.0

# COCO compressed counts: 6-bit characters from '0' (48); bit 0x20 = "more characters follow".
# A value of a legitimate mask (< 2**31, signed deltas) never needs more than 7 characters;
# longer ones would overflow pycocotools' shifts.
_MAX_CHARS_PER_COUNT = 7


def _fail(where: str, message: str) -> ValueError:
    return ValueError(f"{where}: {message}" if where else message)


# ------------------------------------------------------------------ scalars


def integer(value: Any, where: str, lo: int | None = None, hi: int | None = None) -> int:
    """``value`` as an int in [lo, hi]; bools, floats and strings are refused."""
    if type(value) is int and lo is None and hi is None:
        return value
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise _fail(where, f"must be an integer, got {type(value).__name__} {value!r:.40}")
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise _fail(where, f"{value} is out of range [{lo}, {hi}]")
    return value


def number(value: Any, where: str, lo: float | None = None, hi: float | None = None) -> float:
    """``value`` as a finite float in [lo, hi]; NaN, inf, bools and strings are refused."""
    # fast path: twins hold tens of thousands of plain floats
    if type(value) is float and math.isfinite(value) and lo is None and hi is None:
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise _fail(where, f"must be a number, got {type(value).__name__} {value!r:.40}")
    try:
        out = float(value)
    except OverflowError:  # an int beyond float range
        raise _fail(where, f"{value:.6g} is out of range") from None
    if not math.isfinite(out):
        raise _fail(where, f"must be finite, got {out}")
    if (lo is not None and out < lo) or (hi is not None and out > hi):
        raise _fail(where, f"{out} is out of range [{lo}, {hi}]")
    return out


def mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(where, f"must be a mapping (JSON object), got {type(value).__name__}")
    return value


def sequence(value: Any, where: str, length: int | None = None) -> list[Any]:
    """A JSON array (list or tuple; a string or mapping is refused) of ``length`` items."""
    if not isinstance(value, list | tuple):
        raise _fail(where, f"must be a JSON array, got {type(value).__name__}")
    if length is not None and len(value) != length:
        raise _fail(where, f"must have {length} items, got {len(value)}")
    return list(value)


def field(d: Mapping[str, Any], key: str, where: str) -> Any:
    """``d[key]``, or an error naming the missing field."""
    if key not in d:
        raise _fail(where, f"missing field {key!r}")
    return d[key]


# ------------------------------------------------------------------ masks (COCO RLE)


def mask_size(size: Any, where: str = "mask", max_pixels: int | None = None) -> tuple[int, int]:
    """(h, w) of an RLE ``size``: two positive integers with h * w <= ``max_pixels``."""
    h, w = (integer(v, f"{where}.size", 1, UINT32_MAX) for v in sequence(size, f"{where}.size", 2))
    limit = MAX_MASK_PIXELS if max_pixels is None else min(int(max_pixels), _PIXEL_CEILING)
    if h * w > limit:
        raise _fail(
            where, f"mask {w}x{h} has {h * w} pixels, more than the {limit} allowed (max_pixels)"
        )
    return h, w


def compressed_counts(counts: str | bytes, where: str = "mask") -> np.ndarray:
    """The run lengths of a COCO compressed counts string (pycocotools ``rleFrString``),
    decoded here so that they can be checked before pycocotools sees them."""
    raw = counts.encode("ascii", "replace") if isinstance(counts, str) else bytes(counts)
    c = np.frombuffer(raw, dtype=np.uint8).astype(np.int64) - 48
    if c.size == 0:
        return np.zeros(0, dtype=np.int64)
    if c.min() < 0 or c.max() > 63:
        raise _fail(where, "counts holds characters outside the COCO RLE alphabet")
    more = (c & 0x20) != 0
    if more[-1]:
        raise _fail(where, "counts is truncated (its last value is unfinished)")
    ends = np.flatnonzero(~more)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if lengths.max() > _MAX_CHARS_PER_COUNT:
        raise _fail(where, "counts holds a value too large for any mask")
    shift = 5 * (np.arange(c.size) - np.repeat(starts, lengths))
    values = np.add.reduceat((c & 0x1F) << shift, starts)
    negative = (c[ends] & 0x10) != 0  # sign bit of the value's last 5-bit group
    values[negative] -= np.left_shift(1, 5 * lengths[negative])
    # From the third value on, each is stored as the difference to the value two before.
    out = values.copy()
    out[1::2] = np.cumsum(values[1::2])
    out[2::2] = np.cumsum(values[2::2])
    return out


def rle(value: Any, where: str = "mask", max_pixels: int | None = None) -> dict[str, Any]:
    """A COCO RLE checked against its size: ``{"size": [h, w], "counts": str | list}``.

    The run lengths must be non-negative and add up to h * w exactly: pycocotools trusts
    them, and a mismatch makes its decode read uninitialised memory or write past the mask,
    and its merge loop forever. Returns the RLE with ``size`` as two ints.
    """
    d = mapping(value, where)
    h, w = mask_size(field(d, "size", where), where, max_pixels)
    counts = field(d, "counts", where)
    if isinstance(counts, str | bytes):
        _check_compressed(h, w, counts, where)
        return {"size": [h, w], "counts": counts}
    if isinstance(counts, list | tuple):  # uncompressed, as in some public datasets
        if len(counts) > h * w + 1:
            raise _fail(where, f"counts has {len(counts)} runs, more than a {w}x{h} mask can")
        runs = np.array([integer(v, f"{where}.counts", 0, h * w) for v in counts], dtype=np.int64)
    else:
        raise _fail(where, f"counts must be a string or a list, got {type(counts).__name__}")
    _check_runs(h, w, runs, where)
    return {"size": [h, w], "counts": counts}


# A twin's masks are checked at every pycocotools call on them; the verdict on a counts
# string is remembered (strings are immutable, so it cannot go stale).
@functools.lru_cache(maxsize=1024)
def _check_compressed_cached(h: int, w: int, counts: str | bytes) -> str | None:
    try:
        _check_runs(h, w, compressed_counts(counts, ""), "")
    except ValueError as exc:
        return str(exc)
    return None


def _check_compressed(h: int, w: int, counts: str | bytes, where: str) -> None:
    if (error := _check_compressed_cached(h, w, counts)) is not None:
        raise _fail(where, error)


def _check_runs(h: int, w: int, runs: np.ndarray, where: str) -> None:
    if runs.size and runs.min() < 0:
        raise _fail(where, "counts holds a negative run length")
    total = int(runs.sum())
    if total != h * w:
        raise _fail(where, f"counts cover {total} pixels, the mask size {w}x{h} has {h * w}")


# ------------------------------------------------------------------ images and depth


def sane_metric_depth(metres: np.ndarray) -> np.ndarray:
    """Float metres with every pixel beyond :data:`MAX_DEPTH_M` (or negative, or inf) set
    to NaN, the "no return" value; a new float32 array."""
    out = np.asarray(metres, dtype=np.float32).copy()
    with np.errstate(invalid="ignore"):
        out[~(out <= MAX_DEPTH_M) | (out < 0)] = np.nan
    return out


# ------------------------------------------------------------------ command-line numbers


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _int_at_least(text, 0)


def fraction(text: str) -> float:
    """argparse type: a number in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


# ------------------------------------------------------------------ typed configs

T = TypeVar("T")


def config(cls: type[T], data: Any, where: str, *, section: str = "") -> T:
    """An instance of the dataclass ``cls`` from a YAML/JSON mapping.

    Each field's value is checked by pydantic against the field's annotation, strictly (an
    int is accepted for a float, a list for a tuple, nothing else is converted), with the
    ranges given as ``Annotated[..., annotated_types.Ge(...)]``; a dataclass-typed field
    takes a nested mapping (``D | None``: or null); keys that are no field are refused. The
    first error is raised as one line naming ``where`` and the field (after ``section``, the
    key the data has in its file, e.g. ``runtime``); absent fields keep their defaults."""
    return _config(cls, {} if data is None else data, where, f"{section}." if section else "")


def _config(cls: type[T], data: Any, where: str, prefix: str) -> T:
    import typing

    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    data = mapping(data, f"{where}: {prefix.rstrip('.')}" if prefix else where)
    hints = typing.get_type_hints(cls, include_extras=True)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    if unknown := sorted(set(data) - set(names), key=str):
        raise _fail(where, f"unknown key(s) {unknown} in {prefix.rstrip('.') or 'the top level'}")
    kwargs = {}
    for key, value in data.items():
        nested, optional = _nested(hints[key])
        if nested is None:
            kwargs[key] = _check_value(hints[key], value, where, f"{prefix}{key}")
        elif value is None and optional:
            kwargs[key] = None
        else:
            kwargs[key] = _config(nested, {} if value is None else value, where, f"{prefix}{key}.")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:  # the dataclass's own __post_init__ checks
        raise _fail(where, f"{prefix.rstrip('.')}: {exc}" if prefix else str(exc)) from None


def _nested(hint: Any) -> tuple[type | None, bool]:
    """The dataclass a field of type ``D`` or ``D | None`` holds (else None), and whether
    the field takes null."""
    import typing

    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return hint, False
    args = typing.get_args(hint) if isinstance(hint, types.UnionType) else ()
    if len(args) == 2 and type(None) in args:
        (arm,) = (a for a in args if a is not type(None))
        if isinstance(arm, type) and dataclasses.is_dataclass(arm):
            return arm, True
    return None, False


def _check_value(hint: Any, value: Any, where: str, name: str) -> Any:
    import typing

    from pydantic import ValidationError

    if typing.get_origin(_bare(hint)) is tuple and isinstance(value, list):
        value = tuple(value)  # YAML has no tuples
    try:
        return _adapter(hint).validate_python(value, strict=True)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = "".join(f"[{p}]" for p in err["loc"])
        raise _fail(where, f"{name}{loc}: {err['msg']} (got {value!r:.40})") from None


def _bare(hint: Any) -> Any:
    import typing

    return typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint


@functools.lru_cache(maxsize=256)
def _adapter(hint: Any) -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(hint)
