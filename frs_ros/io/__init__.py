"""ROS-free input and output: frames and where they come from, and what they are stored as.

- ``frames``: :class:`Frame` (colour + optional metric depth and intrinsics).
- ``sources``: frames of an image, a folder, a GIF, a video or a rosbag2 (:func:`iter_frames`).
- ``images``: sensor_msgs/Image and CompressedImage <-> numpy (no cv_bridge).
- ``camera``: intrinsics <-> CameraInfo ``K``.
- ``messages``: message-class providers (the protocol, and rosbags classes without ROS).
- ``bags``: rosbag2 reading and writing through rosbags.

Nothing here imports rclpy or ``frs_ros.ros``; the ROS layer adapts these to topics.
"""

from frs_ros.io.bags import BagWriter, iter_bag_images, write_frames
from frs_ros.io.frames import Frame
from frs_ros.io.sources import iter_frames, kind_of

__all__ = ["BagWriter", "Frame", "iter_bag_images", "iter_frames", "kind_of", "write_frames"]
