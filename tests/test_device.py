"""Device and CPU-thread settings of the jumps."""
import pytest
import torch

from openmm_equijump.device import cpu_threads, resolve_device


def test_cpu_threads_are_set_inside_the_block_and_restored_after():
    before = torch.get_num_threads()
    with cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with cpu_threads(0):  # 0 leaves libtorch's setting alone
        assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads"):
        with cpu_threads(-1):
            pass


def test_auto_device_is_the_cpu_without_a_gpu():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
