"""ONNX export of the perception networks and their onnxruntime cores.

``export`` (needs torch) writes the graphs and a manifest; ``runtime`` (numpy +
onnxruntime only) loads them behind the ``frs_ros.perception.cores`` protocols.
"""
