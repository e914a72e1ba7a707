"""Ships ``embed/embed.js`` inside the wheel (as ``service/_embed``); metadata is in pyproject."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithEmbed(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "service" / "_embed"
        target.mkdir(parents=True, exist_ok=True)
        for source in (Path(__file__).parent / "embed").glob("*.js"):  # embed.js, lazy parts
            shutil.copy2(source, target / source.name)


setup(cmdclass={"build_py": BuildPyWithEmbed})
