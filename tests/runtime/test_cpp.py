"""The plugin's C++ tests (src_cpp/tests), built with CMake and run by ctest on the Reference and CPU platforms.

They reuse setup.py's CMake build directory (build/cmake), so after `pip install --no-build-isolation -e .` only
the tests that changed are recompiled; without it the first run compiles the plugin (a few minutes on 2 cores).
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = ROOT / "build" / "cmake"


def run(command, timeout):
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})
    assert result.returncode == 0, f"{' '.join(map(str, command))} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_ctest_suite_passes_on_reference_and_cpu():
    assert shutil.which("cmake"), "cmake is needed to build the C++ tests"
    if not (BUILD_DIR / "CMakeCache.txt").is_file():
        run(["cmake", "-S", "src_cpp", "-B", BUILD_DIR, f"-DPython3_EXECUTABLE={sys.executable}",
             "-DEQUIJUMP_BUILD_PYTHON=OFF", "-DEQUIJUMP_BUILD_TESTS=ON"], timeout=300)
    run(["cmake", "--build", BUILD_DIR, "--target", "TestEquiJumpIntegrator", "--parallel", "2"], timeout=1200)
    output = run(["ctest", "--test-dir", BUILD_DIR, "--output-on-failure"], timeout=300)
    assert "EquiJumpIntegratorReference" in output and "EquiJumpIntegratorCPU" in output
    assert "100% tests passed" in output
