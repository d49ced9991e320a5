"""Image <-> numpy for every supported encoding, and twin/result <-> frs_ros messages.

Messages are built from rosbags' standard ROS 2 Jazzy classes and classes rosbags
generates from this repo's msg/ and srv/ files (no ROS install needed).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frs_ros.io.images import (
    compressed_to_rgb,
    depth_to_metres,
    encode_compressed,
    image_fields,
    image_to_numpy,
    image_to_rgb,
)
from frs_ros.io.messages import RosbagsTypes
from frs_ros.reasoning.answers import answer_masks
from frs_ros.ros import conversions as conv
from frs_ros.twin import Twin, TwinObject
from frs_ros.twin.synthetic import random_twin

TYPES = RosbagsTypes()
RNG = np.random.default_rng(0)


def _image(array: np.ndarray, encoding: str, *, pad: int = 0, bigendian: bool = False):
    """An Image message with ``pad`` bytes of row padding, optionally big-endian."""
    h = array.shape[0]
    data = array.astype(array.dtype.newbyteorder(">" if bigendian else "<")).tobytes()
    row = len(data) // h
    padded = b"".join(data[i * row : (i + 1) * row] + b"\xee" * pad for i in range(h))
    return TYPES.new(
        "sensor_msgs/msg/Image",
        height=h,
        width=array.shape[1],
        encoding=encoding,
        is_bigendian=int(bigendian),
        step=row + pad,
        data=TYPES.sequence("uint8", padded),
    )


CASES = {
    "rgb8": RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8),
    "bgr8": RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8),
    "rgba8": RNG.integers(0, 256, (5, 7, 4), dtype=np.uint8),
    "bgra8": RNG.integers(0, 256, (5, 7, 4), dtype=np.uint8),
    "mono8": RNG.integers(0, 256, (5, 7), dtype=np.uint8),
    "mono16": RNG.integers(0, 65536, (5, 7), dtype=np.uint16),
    "16UC1": RNG.integers(0, 65536, (5, 7), dtype=np.uint16),
    "32FC1": RNG.uniform(0.1, 9.0, (5, 7)).astype(np.float32),
}


@pytest.mark.parametrize("encoding", CASES)
@pytest.mark.parametrize("pad", [0, 3])
@pytest.mark.parametrize("bigendian", [False, True])
def test_image_decodes_every_encoding_with_padding_and_endianness(encoding, pad, bigendian):
    array = CASES[encoding]
    msg = _image(array, encoding, pad=pad, bigendian=bigendian)
    out = image_to_numpy(msg)
    assert out.dtype == array.dtype.newbyteorder("=") and out.dtype.isnative
    np.testing.assert_array_equal(out, array)


@pytest.mark.parametrize("encoding", CASES)
def test_image_fields_round_trip(encoding):
    fields = image_fields(CASES[encoding], encoding)
    fields["data"] = TYPES.sequence("uint8", fields["data"])
    msg = TYPES.new("sensor_msgs/msg/Image", **fields)
    np.testing.assert_array_equal(image_to_numpy(msg), CASES[encoding])


def test_colour_orders_are_normalised_to_rgb():
    rgb = CASES["rgb8"]
    np.testing.assert_array_equal(image_to_rgb(_image(rgb[:, :, ::-1].copy(), "bgr8")), rgb)
    bgra = np.concatenate([rgb[:, :, ::-1], np.full((5, 7, 1), 9, np.uint8)], axis=2)
    np.testing.assert_array_equal(image_to_rgb(_image(bgra, "bgra8")), rgb)
    mono = image_to_rgb(_image(CASES["mono8"], "mono8"))
    assert mono.shape == (5, 7, 3) and (mono[:, :, 1] == CASES["mono8"]).all()


def test_depth_is_metres_with_nan_for_no_return():
    mm = np.array([[0, 1000], [2500, 65535]], dtype=np.uint16)
    metres = depth_to_metres(_image(mm, "16UC1"))
    assert np.isnan(metres[0, 0]) and metres[0, 1] == 1.0 and metres[1, 0] == 2.5
    f = np.array([[0.0, np.nan], [1.5, 3.0]], dtype=np.float32)
    out = depth_to_metres(_image(f, "32FC1"))
    assert np.isnan(out[0]).all() and out[1].tolist() == [1.5, 3.0]
    with pytest.raises(ValueError, match="not a depth encoding"):
        depth_to_metres(_image(CASES["rgb8"], "rgb8"))


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        ({"encoding": "yuv422"}, "unsupported image encoding 'yuv422'"),
        ({"encoding": "8UC3"}, "unsupported image encoding"),
        ({"step": 4}, "step 4 is smaller"),
        ({"height": 9}, "needs"),
        ({"width": 0}, "empty"),
    ],
)
def test_bad_images_are_clear_value_errors(mutate, match):
    msg = dataclasses.replace(_image(CASES["rgb8"], "rgb8"), **mutate)
    with pytest.raises(ValueError, match=match):
        image_to_numpy(msg)


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_compressed_images_decode_through_pil(fmt):
    rgb = np.zeros((16, 24, 3), np.uint8)
    rgb[:, 12:] = (200, 30, 40)
    msg = TYPES.new(
        "sensor_msgs/msg/CompressedImage",
        format=f"rgb8; {fmt} compressed bgr8",
        data=TYPES.sequence("uint8", encode_compressed(rgb, fmt)),
    )
    out = compressed_to_rgb(msg)
    assert out.shape == rgb.shape
    err = np.abs(out.astype(int) - rgb)
    if fmt == "png":
        assert err.max() == 0
    else:  # lossy, and chroma subsampling blurs the colour edge: compare away from it
        assert err[:, :8].max() <= 8 and err[:, 16:].max() <= 8


def test_bad_compressed_images_are_value_errors():
    junk = TYPES.new(
        "sensor_msgs/msg/CompressedImage", format="jpeg", data=TYPES.sequence("uint8", b"junk")
    )
    with pytest.raises(ValueError, match="cannot decode"):
        compressed_to_rgb(junk)
    depth = dataclasses.replace(junk, format="16UC1; compressedDepth png")
    with pytest.raises(ValueError, match="unsupported CompressedImage format"):
        compressed_to_rgb(depth)


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(0, 5), frames=st.integers(1, 3), seed=st.integers(0, 10**6), metric=st.booleans()
)
def test_twin_round_trips_through_messages(n, frames, seed, metric):
    twin = random_twin(n, frames, size=(24, 32), seed=seed, metric_depth=metric)
    twin.frames[-1].frame_id = "camera_optical"
    msg = conv.twin_to_msg(TYPES, twin)
    # the message survives CDR serialization (what goes over the wire and into bags)
    typename = msg.__msgtype__
    msg = TYPES.store.deserialize_cdr(TYPES.store.serialize_cdr(msg, typename), typename)
    back = conv.msg_to_twin(msg)
    assert msg.header.frame_id == "camera_optical"
    for a, b in zip(twin.frames, back.frames, strict=True):
        assert abs(a.stamp - b.stamp) < 1e-9
        assert a.objects == b.objects
        assert (a.index, a.width, a.height, a.frame_id) == (b.index, b.width, b.height, b.frame_id)


def test_object_optional_fields_round_trip():
    mask = np.zeros((8, 8), bool)
    mask[2:5, 3:6] = True
    obj = TwinObject.from_mask(
        7, "handle", 0.5, mask, level="part", parent=3, attributes={"c": "red"}
    )
    assert conv.msg_to_object(conv.object_to_msg(TYPES, obj)) == obj


def _bad_attributes(msg):
    msg.frames[-1].objects[0].attributes_json = "{not json"


def _attributes_not_an_object(msg):
    msg.frames[-1].objects[0].attributes_json = "[1, 2]"


def _short_mask(msg):
    msg.frames[-1].objects[0].mask_counts = "0"


def _long_mask(msg):
    obj = msg.frames[-1].objects[0]
    obj.mask_counts = obj.mask_counts + "a"  # a run past the end of the h x w mask


def _mask_of_another_size(msg):
    msg.frames[-1].objects[0].mask_height = 48  # its counts no longer cover h x w


def _no_frames(msg):
    msg.frames = []


def _score_out_of_range(msg):
    msg.frames[-1].objects[0].score = 7.0


@pytest.mark.parametrize(
    ("corrupt", "match"),
    [
        (_bad_attributes, r"twin frame \d+, object \d+: attributes_json is not JSON"),
        (_attributes_not_an_object, r"object \d+: attributes_json: must be a"),
        (_short_mask, r"object \d+: mask: counts cover 0 pixels, the mask size 32x24"),
        (_long_mask, r"object \d+: mask: counts"),
        (_mask_of_another_size, r"object \d+: mask: counts cover 768 pixels, the mask size 32x48"),
        (_no_frames, "the Twin message has no frames"),
        (_score_out_of_range, r"object \d+: score must be in \[0, 1\]"),
    ],
)
def test_malformed_twin_messages_are_value_errors_saying_where(corrupt, match):
    msg = conv.twin_to_msg(TYPES, random_twin(2, 1, size=(24, 32), seed=1))
    corrupt(msg)
    with pytest.raises(ValueError, match=match):
        conv.msg_to_twin(msg)


def test_result_message_carries_union_and_instances():
    twin: Twin = random_twin(3, 2, size=(24, 32), seed=1)
    ids = twin.latest.ids[:2]
    masks = answer_masks(twin, [*ids, 99])
    msg = conv.result_to_msg(
        TYPES,
        query_id="q",
        query_text="two things",
        frame=twin.latest,
        masks=masks.latest,
        ids=masks.ids,
        unknown_ids=masks.unknown_ids,
        outcome="answered",
        reasoning="because",
        timings={"total_s": 0.25},
    )
    union = image_to_numpy(msg.mask) > 0
    expected = twin.latest.object(ids[0]).decode_mask() | twin.latest.object(ids[1]).decode_mask()
    np.testing.assert_array_equal(union, expected)
    assert msg.mask.encoding == "mono8" and list(msg.object_ids) == ids
    assert list(msg.unknown_ids) == [99] and not msg.empty_target and msg.total_s == 0.25
    assert len(msg.instance_mask_counts) == 2
    assert msg.instance_mask_counts[0] == twin.latest.object(ids[0]).mask["counts"]


def test_provider_rejects_unknown_fields_like_rclpy():
    with pytest.raises(TypeError, match="no field"):
        TYPES.new("frs_ros/msg/ReasonQuery", text="x", colour="red")
