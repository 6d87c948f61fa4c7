"""``device="auto"`` resolved in one place: CUDA when libtorch sees a GPU, else the CPU (as the plugin does); and
libtorch's CPU thread count for a stretch of jumps."""
import contextlib

import torch

from .errors import ConfigError


def resolve_device(device: str = "auto") -> torch.device:
    """The torch device that ``device`` ("auto", "cpu", "cuda", "cuda:1", ...) names; ``ConfigError`` (--device)
    for a name torch does not know or a GPU this machine does not have."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ConfigError(f"--device {device!r} is not a device torch knows ({error}); use auto, cpu, cuda or "
                          "cuda:<index>") from None
    if resolved.type == "cuda":
        count = torch.cuda.device_count()
        if resolved.index is not None and resolved.index >= count or not count:
            raise ConfigError(f"--device {device!r}: torch sees {count} CUDA device(s) here; use --device cpu "
                              "(or auto)")
    elif resolved.type != "cpu":
        raise ConfigError(f"--device {device!r}: only cpu and cuda devices are supported; use auto, cpu or cuda")
    return resolved


@contextlib.contextmanager
def cpu_threads(threads: int):
    """libtorch's intra-op CPU threads set to ``threads`` inside the block (0: left as they are), restored after.

    One thread is the default of the package's jumps: on a machine shared with busy processes, libtorch's one
    thread per core wait for each other and a jump can take 50 times longer (``bench/bench_speed.py``)."""
    if threads < 0:
        raise ValueError(f"threads must be >= 0 (0 = libtorch's default, one per core), got {threads}")
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
