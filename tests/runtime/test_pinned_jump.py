"""The shipped chignolin model's jump, pinned: same seed, same positions (float32 round-off) across refactors."""
import importlib.util

import numpy as np

from helpers import FIXTURES

FIXTURE = FIXTURES / "pinned"


def _maker():
    spec = importlib.util.spec_from_file_location("make_jump_fixture", FIXTURE / "make_jump_fixture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_chignolin_model_jumps_to_the_pinned_positions():
    pinned = np.load(FIXTURE / "jump_chignolin.npz")
    start, jumps = _maker().jump_positions()
    np.testing.assert_array_equal(start, pinned["start"])
    assert np.abs(jumps - pinned["start"]).max() > 0.05  # the jump moved the atoms (nm)
    np.testing.assert_allclose(jumps, pinned["jumps"], rtol=0, atol=1e-5)  # 1e-4 A: float32 round-off
