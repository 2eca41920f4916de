"""Checks of the commands' input and output paths, made before any work.

A command that would fail on its last line (writing into a file, under a file, into a folder
where a file is meant) fails on its first instead, with one line naming the flag.
"""

from __future__ import annotations

import os
from pathlib import Path


class PathError(ValueError):
    """A path given on the command line cannot be used (the message names the flag)."""


def _nearest_existing(path: Path) -> Path:
    """``path`` itself or its closest ancestor that exists (``.`` for a relative path with none)."""
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return Path(".")


def _check_can_create(path: Path, flag: str) -> None:
    """Every existing ancestor of ``path`` is a folder we may write in (so ``path`` can be created)."""
    base = _nearest_existing(path.parent)
    if not base.is_dir():
        raise PathError(f"{flag} {path}: {base} is a file, not a folder; choose a path under a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        raise PathError(f"{flag} {path}: cannot write in {base} (permission denied); choose another path")


def check_new_folder(path: Path, flag: str = "--out") -> None:
    """``path`` does not exist or is an empty folder, and can be created.

    Raises
    ------
    PathError
        Naming ``flag``: an existing file or non-empty folder, a file among its parents, or no
        permission to write.
    """
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise PathError(f"{flag} {path} exists and is not an empty folder; choose a new folder")
    if path.is_dir():
        _check_writable(path, flag)
        return
    _check_can_create(path, flag)


def check_folder(path: Path, flag: str = "--out") -> None:
    """``path`` is a folder (its files may be replaced) or can be created as one."""
    if path.exists() and not path.is_dir():
        raise PathError(f"{flag} {path} is a file; give a folder (it is created if missing)")
    if path.is_dir():
        _check_writable(path, flag)
        return
    _check_can_create(path, flag)


def check_file(path: Path, flag: str = "--out", *, example: str = "out.md", overwrite: bool = True) -> None:
    """``path`` is a file that can be written (created, or replaced when ``overwrite``)."""
    if path.is_dir():
        raise PathError(f"{flag} {path} is a folder; give a file name, e.g. {path / example}")
    if path.exists() and not overwrite:
        raise PathError(f"{flag} {path} exists; choose another path (it is never overwritten)")
    if path.exists() and not os.access(path, os.W_OK):
        raise PathError(f"{flag} {path}: the file is not writable (permission denied)")
    _check_can_create(path, flag)


def check_input_file(path: Path, flag: str, *, what: str = "file") -> None:
    """``path`` is an existing, readable file."""
    if not path.exists():
        raise PathError(f"{flag} {path}: no such {what}")
    if path.is_dir():
        raise PathError(f"{flag} {path} is a folder; give the {what} itself")
    if not os.access(path, os.R_OK):
        raise PathError(f"{flag} {path}: the {what} is not readable (permission denied)")


def _check_writable(folder: Path, flag: str) -> None:
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PathError(f"{flag} {folder}: cannot write in this folder (permission denied)")


def check_store_flags(args) -> None:
    """``--tracking``, ``--uri`` and ``--root`` agree with each other (before any store is opened)."""
    if args.uri is not None and args.tracking != "server":
        raise ValueError("--uri goes with --tracking server (the local store is found with --root)")
    if args.tracking == "server" and not (args.uri or os.environ.get("MLFLOW_TRACKING_URI")):
        raise ValueError("--tracking server needs --uri http://HOST:PORT (or the MLFLOW_TRACKING_URI environment variable)")
    if args.root is not None and args.tracking != "local":
        raise ValueError("--root goes with --tracking local (a server is found with --uri)")
    if args.root is not None and args.root.exists() and not args.root.is_dir():
        raise ValueError(f"--root {args.root} is a file; give the store's folder (it holds mlflow.db)")
