"""Shared helpers for the built-in dataset modules."""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from dpcondense.data import ChecksumMismatchError, Dataset, Schema, from_frame
from dpcondense.paths import CONF_DIR
from dpcondense.registry import Registry

DATASETS: Registry = Registry("dataset")


def register_dataset(name: str):
    """Decorator for a ``load_<name>() -> Dataset`` function."""
    return DATASETS.register(name)


def package_file(distribution: str, relative: str) -> Path:
    """Path of a data file shipped inside an installed distribution, found without importing it.

    Some data-only packages declare outdated dependency pins; they are installed with
    ``--no-deps`` and only their files are read.
    """
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError as exc:
        raise FileNotFoundError(
            f"data package {distribution!r} is not installed; run `make setup` "
            "(it installs the data packages listed in requirements-data.txt with --no-deps)"
        ) from exc
    for f in dist.files or ():
        if str(f).replace("\\", "/").endswith(relative):
            path = Path(dist.locate_file(f))
            if path.is_file():
                return path
    raise FileNotFoundError(f"{relative!r} not found in the installed package {distribution!r}")


def card(name: str) -> dict:
    """The dataset card ``conf/dataset/<name>.yaml`` as a plain mapping (what Hydra composes)."""
    path = CONF_DIR / "dataset" / f"{name}.yaml"
    if not path.is_file():
        return {"name": name}
    return OmegaConf.to_container(OmegaConf.load(path), resolve=True)


def recorded_checksum(name: str) -> str | None:
    """The content checksum a built-in dataset's module records (``CHECKSUM``), without loading it."""
    loader = DATASETS.get(name)
    return getattr(sys.modules[loader.__module__], "CHECKSUM", None)


def schema_for(name: str) -> Schema:
    """The public schema ``conf/dataset/<name>.yaml``."""
    return Schema.from_yaml(CONF_DIR / "dataset" / f"{name}.yaml")


def finish(frame: pd.DataFrame, name: str, checksum: str) -> Dataset:
    """Validate ``frame`` against the dataset's schema and check its recorded checksum."""
    ds = from_frame(frame, schema_for(name), source=name)
    got = ds.checksum()
    if got != checksum:
        raise ChecksumMismatchError(
            f"dataset {name!r}: canonical content checksum {got} differs from the recorded "
            f"{checksum}; the source file or its preprocessing changed"
        )
    return ds
