"""Builds openmm-equijump: the Python package and, through CMake, its OpenMM plugin (src_cpp/).

The plugin links libtorch and libOpenMM and must be compiled against the exact torch and openmm that run it, so
install into an environment that has them (requirements.txt) without build isolation:

    pip install -r requirements.txt && pip install --no-build-isolation -e .

The CMake build lives in build/cmake beside this file (the C++ tests, run by tests/test_cpp.py, use it too);
the plugin library, the SWIG module and its Python wrapper are installed into openmm_equijump/_plugin/.
CMAKE_BUILD_PARALLEL_LEVEL sets the number of compile jobs (default 2).
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
CMAKE_BUILD_DIR = ROOT / "build" / "cmake"


def find_swig() -> str:
    """SWIG from PyPI (next to this Python) first: openmm accepts only objects of SWIG 4.2 or later."""
    return shutil.which("swig", path=str(Path(sys.executable).parent)) or shutil.which("swig") or "swig"


class CMakeExtension(Extension):
    def __init__(self, name: str, source_dir: Path):
        super().__init__(name, sources=[])
        self.source_dir = source_dir


class BuildCMakePlugin(build_ext):
    def build_extension(self, ext: Extension) -> None:
        if not isinstance(ext, CMakeExtension):
            return super().build_extension(ext)
        for module, requirement in (("torch", "torch==2.13.0"), ("openmm", "openmm==8.6.1")):
            try:
                __import__(module)
            except ImportError as error:
                raise RuntimeError(
                    f"building the plugin needs {module} installed ({requirement}); run "
                    "`pip install -r requirements.txt`, then `pip install --no-build-isolation -e .`"
                ) from error
        package_dir = Path(self.get_ext_fullpath(ext.name)).resolve().parent
        CMAKE_BUILD_DIR.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", "2")
        subprocess.run(
            ["cmake", "-S", str(ext.source_dir), "-B", str(CMAKE_BUILD_DIR),
             f"-DPython3_EXECUTABLE={sys.executable}", f"-DSWIG_EXECUTABLE={find_swig()}",
             "-DCMAKE_BUILD_TYPE=Release", "-DEQUIJUMP_BUILD_PYTHON=ON", "-DEQUIJUMP_BUILD_TESTS=ON"],
            check=True, env=env)
        subprocess.run(["cmake", "--build", str(CMAKE_BUILD_DIR)], check=True, env=env)
        # An editable install imports the package from the source tree, so the plugin goes there too.
        targets = {package_dir, ROOT / "openmm_equijump" / "_plugin"} if self.editable_mode else {package_dir}
        for target in targets:
            subprocess.run(["cmake", "--install", str(CMAKE_BUILD_DIR), "--prefix", str(target)], check=True, env=env)


# Name, version, dependencies, console scripts and package data: pyproject.toml ([project]).
setup(
    ext_modules=[CMakeExtension("openmm_equijump._plugin._equijump", ROOT / "src_cpp")],
    cmdclass={"build_ext": BuildCMakePlugin},
    zip_safe=False,
)
