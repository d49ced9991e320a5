"""Offline training (docs/DESIGN.md §1, §5): rosbag/benchmark data -> twin cache, rewards, teacher
GRPO, reasoning-chain distillation (SFT) and student GRPO with an LLM judge, export.

Heavy dependencies (torch, transformers, peft, rosbags) are imported by the stage modules,
not here, so ``frs_ros.training.rewards`` stays light.
"""
