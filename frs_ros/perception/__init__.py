"""Perception: frames → digital twins (docs/DESIGN.md §1, §7).

Public API (torch is imported only when a torch core is built)::

    from frs_ros.perception import PerceptionPipeline, load_profile
    pipe = PerceptionPipeline.from_profile("default")         # "cpu", "tiny" or a YAML path
    frame_twin = pipe.process_frame(rgb, depth=None, intrinsics=None, stamp=0.0,
                                    extra_labels=["red mug"])  # ids persist across calls
    twin = pipe.process_video(frames)                          # resets, then a Twin
    pipe.reset()                                               # start a new stream
"""

from frs_ros.perception.config import PerceptionConfig, load_perception_config
from frs_ros.perception.models import ModelProfile, ModelUnavailableError, load_profile
from frs_ros.perception.pipeline import PerceptionPipeline

__all__ = [
    "ModelProfile",
    "ModelUnavailableError",
    "PerceptionConfig",
    "PerceptionPipeline",
    "load_perception_config",
    "load_profile",
]
