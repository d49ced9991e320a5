"""Seeded scenes: objects of the vocabulary at metric depths, with occlusion, containment
and (for video) motion, appearance and disappearance; and the twin they produce.

A scene is a list of object specs; ``frame_layers`` paints them far-to-near into a label
map and a metric depth map (a z-buffer), and ``scene_twin`` builds each object's
*visible* mask from those with ``TwinObject.from_mask``, so masks, boxes, areas and depth
statistics are real. A container's mask includes its contents (an "amodal" drawer), which
is what makes the ``inside`` relation of the twin hold for an object in a drawer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from frs_ros.benchmark.vocabulary import CONTAINERS, CONTENTS, KIND_BY_NAME, KINDS
from frs_ros.twin import CameraIntrinsics, FrameTwin, Twin, TwinObject
from frs_ros.twin.synthetic import shape_mask

BACKGROUND_DEPTH_M = 5.0  # the far wall
FRAME_DT_S = 0.5  # seconds between video frames
MIN_VISIBLE = 0.6  # an object must keep this fraction of its shape visible


class SceneRejected(Exception):
    """A sampled layout breaks a rule (too occluded, off-image, overlapping); resample."""


def camera_intrinsics(width: int, height: int) -> CameraIntrinsics:
    """The benchmark camera: principal point at the centre, a ~50° horizontal view."""
    f = 1.1 * width
    return CameraIntrinsics(fx=f, fy=f, cx=width / 2, cy=height / 2)


@dataclass(frozen=True)
class ObjectSpec:
    id: int
    kind: str
    center: tuple[float, float]  # pixels at frame 0
    depth_m: float
    velocity: tuple[float, float] = (0.0, 0.0)  # pixels per frame
    first: int = 0  # first frame it is in view
    last: int | None = None  # last frame in view (None: until the end)
    parent: int | None = None  # the container holding it

    def visible_at(self, t: int) -> bool:
        return t >= self.first and (self.last is None or t <= self.last)

    def center_at(self, t: int) -> tuple[float, float]:
        return (self.center[0] + t * self.velocity[0], self.center[1] + t * self.velocity[1])


@dataclass(frozen=True)
class Scene:
    scene_id: str
    width: int
    height: int
    n_frames: int
    objects: tuple[ObjectSpec, ...]

    @property
    def intrinsics(self) -> CameraIntrinsics:
        return camera_intrinsics(self.width, self.height)

    def radii(self, spec: ObjectSpec) -> tuple[float, float]:
        """Half extents in pixels of ``spec`` at its depth (pinhole projection)."""
        w, h = KIND_BY_NAME[spec.kind].size_m
        f = self.intrinsics.fx
        return (0.5 * w * f / spec.depth_m, 0.5 * h * f / spec.depth_m)

    def shape(self, spec: ObjectSpec, t: int) -> np.ndarray:
        """The object's full (unoccluded) shape at frame ``t``.

        ``shape_mask`` is evaluated on the object's box only (not the whole image): scene
        generation draws thousands of shapes and this keeps it fast.
        """
        kind = KIND_BY_NAME[spec.kind]
        (cx, cy), (rx, ry) = spec.center_at(t), self.radii(spec)
        x0, y0 = max(int(cx - rx) - 1, 0), max(int(cy - ry) - 1, 0)
        x1, y1 = min(int(cx + rx) + 2, self.width), min(int(cy + ry) + 2, self.height)
        out = np.zeros((self.height, self.width), dtype=bool)
        if x1 > x0 and y1 > y0:
            out[y0:y1, x0:x1] = shape_mask(
                (y1 - y0, x1 - x0), (cx - x0, cy - y0), (rx, ry), kind.shape
            )
        return out


def frame_layers(scene: Scene, t: int) -> tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]]:
    """(label map of ids with 0 = background, depth map in metres, full shape per id) at t.

    Painted far to near, so a nearer object hides a farther one; contents are nearer than
    their container and so drawn over it.
    """
    labels = np.zeros((scene.height, scene.width), dtype=np.int32)
    depth = np.full((scene.height, scene.width), BACKGROUND_DEPTH_M, dtype=np.float32)
    shapes: dict[int, np.ndarray] = {}
    visible = [s for s in scene.objects if s.visible_at(t)]
    for spec in sorted(visible, key=lambda s: (-s.depth_m, s.id)):
        m = scene.shape(spec, t)
        shapes[spec.id] = m
        labels[m] = spec.id
        depth[m] = spec.depth_m
    return labels, depth, shapes


def visible_masks(scene: Scene, t: int) -> tuple[dict[int, np.ndarray], np.ndarray, dict]:
    """Visible mask per id at ``t`` (containers include their contents), depth map, shapes."""
    labels, depth, shapes = frame_layers(scene, t)
    contents: dict[int, list[int]] = {}
    for s in scene.objects:
        if s.parent is not None and s.id in shapes:
            contents.setdefault(s.parent, []).append(s.id)
    masks = {}
    for obj_id, shape in shapes.items():
        own = labels == obj_id
        if obj_id in contents:
            own |= np.isin(labels, contents[obj_id]) & shape
        masks[obj_id] = own
    return masks, depth, shapes


def scene_twin(scene: Scene) -> Twin:
    """The ground-truth twin: one frame per time step, metric depth, 3-D centroids.

    Raises :class:`SceneRejected` when an object is mostly hidden in some frame (its
    visible mask would not be a fair target) or never in view.
    """
    intr = scene.intrinsics
    parents = {s.id: s.parent for s in scene.objects}
    kinds = {s.id: s.kind for s in scene.objects}
    for s in scene.objects:
        if not any(s.visible_at(t) for t in range(scene.n_frames)):
            raise SceneRejected(f"object {s.id} is never in view")
    frames = []
    for t in range(scene.n_frames):
        masks, depth, shapes = visible_masks(scene, t)
        for obj_id, mask in masks.items():
            if mask.sum() < MIN_VISIBLE * shapes[obj_id].sum():
                raise SceneRejected(f"object {obj_id} is mostly hidden in frame {t}")
        objects = [
            TwinObject.from_mask(
                obj_id,
                kinds[obj_id],
                1.0,
                mask,
                depth=depth,
                depth_source="metric",
                intrinsics=intr,
                parent=parents[obj_id],
            )
            for obj_id, mask in sorted(masks.items())
            if mask.any()
        ]
        frames.append(
            FrameTwin(t, round(t * FRAME_DT_S, 3), scene.width, scene.height, objects, "camera")
        )
    return Twin(frames=frames)


# ------------------------------------------------------------------ sampling


def _box(scene: Scene, spec: ObjectSpec, t: int) -> tuple[float, float, float, float]:
    (cx, cy), (rx, ry) = spec.center_at(t), scene.radii(spec)
    return (cx - rx, cy - ry, cx + rx, cy + ry)


def _swept(scene: Scene, spec: ObjectSpec) -> tuple[float, float, float, float]:
    a, b = _box(scene, spec, 0), _box(scene, spec, scene.n_frames - 1)
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _overlap_frac(a: tuple, b: tuple) -> float:
    """Overlap area of two boxes over the smaller box's area."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h / small


def _fits(scene: Scene, spec: ObjectSpec) -> bool:
    x0, y0, x1, y1 = _swept(scene, spec)
    rx, ry = scene.radii(spec)
    big = 2 * rx > 0.45 * scene.width or 2 * ry > 0.6 * scene.height
    small = min(rx, ry) < 2.5
    return (
        x0 >= 1
        and y0 >= 1
        and x1 <= scene.width - 1
        and y1 <= scene.height - 1
        and not (big or small)
    )


def _compatible(scene: Scene, spec: ObjectSpec, placed: list[ObjectSpec]) -> bool:
    """Free objects may partly occlude each other when both are static; a moving object
    must not touch anything (its motion would shift the centroids of what it passes)."""
    for other in placed:
        if spec.parent == other.id or other.parent == spec.id:
            continue
        frac = _overlap_frac(_swept(scene, spec), _swept(scene, other))
        moving = spec.velocity != (0.0, 0.0) or other.velocity != (0.0, 0.0)
        container = spec.kind in CONTAINERS or other.kind in CONTAINERS
        if frac > 0 and (moving or container or spec.parent is not None):
            return False
        if frac > 0.25:
            return False
    return True


def sample_scene(
    rng: np.random.Generator,
    scene_id: str,
    *,
    n_frames: int = 1,
    size: tuple[int, int] = (240, 320),
    n_objects: tuple[int, int] = (5, 8),
) -> Scene:
    """A random table-top scene; raises :class:`SceneRejected` for a bad draw.

    Visibility is checked when the twin is built (:func:`scene_twin`), which draws the
    masks anyway.
    """
    h, w = size
    scene = Scene(scene_id, w, h, n_frames, ())
    video = n_frames > 1
    free_kinds = [k.name for k in KINDS if k.name not in CONTAINERS]
    placed: list[ObjectSpec] = []
    next_id = 1

    def place(kind: str, parent: ObjectSpec | None = None) -> ObjectSpec | None:
        nonlocal next_id
        for _ in range(30):
            if parent is None:
                far = kind in ("chair", "stool")
                depth = float(rng.uniform(2.0, 3.2) if far else rng.uniform(0.7, 2.4))
                cx, cy = float(rng.uniform(0, w)), float(rng.uniform(0, h))
            else:
                depth = parent.depth_m - 0.05
                prx, pry = scene.radii(parent)
                cx = parent.center[0] + float(rng.uniform(-0.5, 0.5)) * prx
                cy = parent.center[1] + float(rng.uniform(-0.5, 0.5)) * pry
            velocity, first, last = (0.0, 0.0), 0, None
            if video and parent is None and kind not in CONTAINERS and rng.random() < 0.35:
                speed = float(rng.uniform(6.0, 12.0))
                angle = float(rng.uniform(0, 2 * np.pi))
                velocity = (speed * np.cos(angle), speed * np.sin(angle))
            if video and kind not in CONTAINERS:
                r = rng.random()
                if r < 0.15:
                    first = int(rng.integers(1, n_frames - 1))
                elif r < 0.3 or (parent is not None and r < 0.45):
                    last = int(rng.integers(1, n_frames - 1))
            spec = ObjectSpec(
                next_id, kind, (cx, cy), depth, velocity, first, last, parent.id if parent else None
            )
            if not _fits(scene, spec):
                continue
            if parent is not None:
                px0, py0, px1, py1 = _box(scene, parent, 0)
                x0, y0, x1, y1 = _box(scene, spec, 0)
                if not (x0 > px0 + 1 and y0 > py0 + 1 and x1 < px1 - 1 and y1 < py1 - 1):
                    continue
            if _compatible(scene, spec, placed):
                placed.append(spec)
                next_id += 1
                return spec
        return None

    n = int(rng.integers(n_objects[0], n_objects[1] + 1))
    if rng.random() < 0.6:
        container = place(str(rng.choice(CONTAINERS)))
        if container is not None:
            for _ in range(int(rng.integers(1, 3))):
                place(str(rng.choice(CONTENTS)), container)
    while len(placed) < n:
        kind = str(rng.choice(free_kinds))
        if placed and rng.random() < 0.3:  # repeat a kind: "the mug left of the plate"
            kind = str(rng.choice([p.kind for p in placed if p.kind not in CONTAINERS] or [kind]))
        if place(kind) is None:
            break
    if len(placed) < n_objects[0]:
        raise SceneRejected("could not place enough objects")
    return Scene(scene_id, w, h, n_frames, tuple(placed))
