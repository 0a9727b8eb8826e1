"""The machine a run uses: the torch device, the GPUs, the facts a training record keeps.

torch is imported inside the functions. Imports nothing of ours.
"""

from __future__ import annotations

import os


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def cuda_info() -> dict:
    """What the page shows before a run: is there a GPU, which one."""
    import torch

    if not torch.cuda.is_available():
        return {"cuda": False, "devices": 0, "name": None}
    return {
        "cuda": True,
        "devices": torch.cuda.device_count(),
        "name": torch.cuda.get_device_name(0),
    }


def environment() -> dict:
    """The machine a run used, for the encoder's record."""
    import platform

    import torch

    info = cuda_info()
    return {
        "device": info["name"] or "cpu",
        "gpus": info["devices"],
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
    }
