"""Install hear_gear_embed: ``pip install .`` (bring your own torch, or use constraints.txt here)."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = next(
    line.split('"')[1]
    for line in (HERE / "hear_gear_embed" / "__init__.py").read_text().splitlines()
    if line.startswith("__version__")
)

GEAR = ["scikit-learn>=1.3", "matplotlib>=3.10", "tqdm>=4.60"]  # hear_gear_embed.evaluation
CLI = ["soundfile>=0.12", "soxr>=0.3", "tqdm>=4.60"]  # hear_gear_embed.io: audio files, resampling, progress

setup(
    name="hear_gear_embed",
    version=VERSION,
    description="PaSST audio embeddings behind the HEAR 2021 API, with tools to understand them",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=find_packages(include=["hear_gear_embed", "hear_gear_embed.*"]),
    install_requires=["torch>=2.1", "numpy>=1.22", "nnAudio==0.3.4"],
    extras_require={
        "cli": CLI,
        "gear": GEAR,
        "test": ["pytest>=7", "librosa==0.11.0", *CLI, *GEAR],
    },
    entry_points={"console_scripts": ["hear-gear = hear_gear_embed.cli:main"]},
    license="MIT",
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Multimedia :: Sound/Audio :: Analysis",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
