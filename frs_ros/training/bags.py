"""rosbag2 (sqlite3 or MCAP) -> frames -> the online perception -> frame twins, cached.

Reading goes through ``frs_ros.io.bags.iter_bag_images`` (rosbags, no ROS install needed;
images decoded by ``frs_ros.io.images``, the converter the live nodes use), the reader
``frs segment`` uses too, so offline twins are built from exactly the pixels the live node
would see.

Cache: one JSON file per frame twin under
``<cache_dir>/<bag hash>/<topic>/<settings digest>/<frame index>.json`` — content-addressed
by the bag's hash (its metadata and storage files: sizes plus the first and last MiB of
each, so hashing a 50 GB bag stays cheap), the image topic, the frame index and a digest of
everything else a twin depends on: the perception profile (name and file hash), depth and
CameraInfo topics and frame stride, recorded in that folder's ``manifest.json``
(``frs_ros.manifest.keyed_folder``). Other settings get a fresh sub-folder, never another
run's twins. Already cached frames are skipped, so an interrupted build resumes; the tracker
then restarts at the first uncached frame (track ids of a resumed bag may differ from an
uninterrupted build, masks do not). A bag that cannot be opened, and a frame that cannot
be decoded or perceived, is skipped and reported — never fatal.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from frs_ros.io.bags import iter_bag_images
from frs_ros.manifest import file_digest, keyed_folder
from frs_ros.perception.models import profile_path
from frs_ros.twin import FrameTwin

log = logging.getLogger(__name__)
_EDGE = 1 << 20


@dataclass
class BagReport:
    bag: str
    frames: int = 0  # twins available (cached or built)
    built: int = 0  # built in this run
    skipped: list[str] = field(default_factory=list)  # "frame 3: why" / "bag: why"

    @property
    def ok(self) -> bool:
        return not any(s.startswith("bag:") for s in self.skipped)


def bag_hash(path: str | Path) -> str:
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    h = hashlib.sha256()
    for f in files:
        size = f.stat().st_size
        h.update(f"{f.name}:{size}".encode())
        with f.open("rb") as fh:
            h.update(fh.read(_EDGE))
            if size > 2 * _EDGE:
                fh.seek(size - _EDGE)
                h.update(fh.read(_EDGE))
    return h.hexdigest()[:16]


def _slug(topic: str) -> str:
    return topic.strip("/").replace("/", "__") or "root"


def bag_to_twins(
    path: str | Path,
    cache_dir: str | Path,
    pipeline: Any,
    profile: str,
    *,
    image_topic: str = "",
    depth_topic: str = "",
    info_topic: str = "",
    stride: int = 1,
    max_frames: int = 0,
) -> tuple[list[FrameTwin], BagReport]:
    """Frame twins of one bag (cached); never raises for a bad bag or frame."""
    report = BagReport(str(path))
    twins: list[FrameTwin] = []
    try:
        key = bag_hash(path)
        pipeline.reset()
        images = iter_bag_images(path, image_topic, depth_topic, info_topic)
        settings = {
            "bag_sha256": key,
            "depth_topic": depth_topic,
            "info_topic": info_topic,
            "profile": profile,
            "profile_sha256": file_digest(profile_path(profile)),
            "stride": stride,  # the tracker sees only these frames: ids depend on it
        }
        folder = None
        for image in tqdm(images, desc=Path(path).name):
            index = image.index
            if index % stride or (max_frames and len(twins) >= max_frames):
                continue
            if folder is None:  # the topic is known once the first image is read
                topic_dir = Path(cache_dir) / key / _slug(image.topic)
                folder = keyed_folder(topic_dir, {**settings, "image_topic": image.topic})
            file = folder / f"{index}.json"
            if file.is_file():
                twins.append(FrameTwin.from_dict(json.loads(file.read_text())))
                continue
            try:
                rgb, stamp, frame_id = image.decode()
                twin = pipeline.process_frame(
                    rgb, image.depth, image.intrinsics, stamp=stamp, frame_id=frame_id
                )
            except Exception as err:  # one bad frame must not end a long build
                report.skipped.append(f"frame {index}: {type(err).__name__}: {err}")
                continue
            twin.index = index
            file.parent.mkdir(parents=True, exist_ok=True)
            tmp = file.with_suffix(".tmp")
            tmp.write_text(json.dumps(twin.to_dict()))
            tmp.replace(file)
            twins.append(twin)
            report.built += 1
    except Exception as err:  # unreadable / corrupted bag: report and go on with the rest
        report.skipped.append(f"bag: {type(err).__name__}: {err}")
        log.warning("skipping bag %s: %s", path, err)
    report.frames = len(twins)
    return twins, report
