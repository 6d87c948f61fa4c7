"""``device="auto"`` resolved in one place: CUDA when libtorch sees a GPU, else the CPU (as the plugin does)."""
import torch


def resolve_device(device: str = "auto") -> torch.device:
    """The torch device that ``device`` ("auto", "cpu", "cuda", "cuda:1", ...) names."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)
