"""The run specification: everything that determines a run's result, and its identity.

A :class:`RunSpec` is the *normalised* configuration of one run: task defaults filled in
(``model``, ``eval_model``, ``size``), numbers parsed, and every key that only says where or how
to report left out (``tracking``, ``experiment_name``, ``progress``, ``dry_run``, the ``hydra``
node, a dataset card's prose). The identity is the SHA-256 of :meth:`RunSpec.payload`, so
``size=null`` and ``size=10`` on a classification dataset are the same run and moving the store
re-runs nothing. :func:`dpcondense.benchmark.resolve.resolve_run` builds a spec from a composed
config and is the one place where a run's inputs are validated.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import secrets
import subprocess
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Mapping

from dpcondense.paths import LOCAL_KEY_FILE, PROJECT_ROOT

#: bump when the meaning of RunSpec changes, so old and new identities never collide
#: (2: the versions of the code and the dataset's content checksum entered the identity)
IDENTITY_VERSION = 2
#: ``dataset=csv`` keys that say where the files are (not part of the identity; the content hash is)
CSV_LOCATION_KEYS = ("path", "schema_path")
#: tag naming a run's declared variant (config key ``variant``): where reports put it, not what it computes
VARIANT_TAG = "variant"


def local_key(path: Path | None = None) -> bytes:
    """The machine's secret key for keyed digests of a custodian's files (created on first use).

    32 bytes from the OS, in ``$DPCONDENSE_KEY_FILE`` (default ``~/.dpcondense/identity.key``),
    readable by its owner only. It never leaves the machine: identities of CSV runs made here
    cannot be matched against a candidate file elsewhere.
    """
    path = Path(path or LOCAL_KEY_FILE)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(32))
    return path.read_bytes()


class RunConfigError(ValueError):
    """A configuration that cannot run; the message names the key, the value and what is allowed."""


@dataclass
class RunSpec:
    """Everything that determines a run's result, normalised (the input of the identity hash)."""

    dataset: str
    task: str
    schema_sha256: str
    model: str
    model_params: dict[str, Any]
    eval_models: list[str]
    eval_model_params: dict[str, dict[str, Any]]
    method: str
    method_params: dict[str, Any]
    epsilon: float
    delta: float
    size: int
    seed: int
    references: bool
    progress: bool = field(default=True, compare=False)
    #: ``"test"`` (the report's numbers) or ``"validation"``: fit on part of the training split and
    #: score on the rest, the test split untouched (tuning)
    evaluate_on: str = "test"
    #: where noise and sampling come from: "seeded" (benchmark mode, the built-in datasets'
    #: default) or "secure" (OS-entropy CSPRNG; always for a custodian's CSV)
    noise: str = "seeded"
    #: ``dataset=csv`` only: the file options (``delimiter``, ``encoding``, ``n_public``,
    #: ``count_share``) are hashed; ``path`` / ``schema_path`` are where, not what, and are not
    csv: dict[str, Any] | None = None
    #: what produced the result besides the config: the method's and every family's version and
    #: the built-in dataset's content checksum (a new behaviour is a new run, never a reused one)
    versions: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        """The hashed content (JSON-ready; ``inf`` kept as a float)."""
        return {
            "identity_version": IDENTITY_VERSION,
            "dataset": {"name": self.dataset, "task": self.task, "schema_sha256": self.schema_sha256},
            "model": {"name": self.model, "params": self.model_params},
            "eval_model": {name: self.eval_model_params[name] for name in self.eval_models},
            "method": {"name": self.method, "params": _identity_params(self.method, self.method_params)},
            "privacy": {"epsilon": self.epsilon, "delta": self.delta},
            "size": self.size,
            "seed": self.seed,
            "references": self.references,
            "versions": self.versions,
            # the default stays out of the hash, so identities of test-split runs do not move
            **({"evaluate_on": self.evaluate_on} if self.evaluate_on != "test" else {}),
            # each kind of dataset's default mode stays out of the hash (identities do not move)
            **({"noise": self.noise} if self.noise != self.default_noise else {}),
            **({"csv": {k: v for k, v in self.csv.items() if k not in CSV_LOCATION_KEYS}} if self.csv else {}),
        }

    @property
    def default_noise(self) -> str:
        """Secret noise for a custodian's file, the seeded benchmark mode for a built-in dataset."""
        return "secure" if self.csv else "seeded"

    @property
    def identity(self) -> str:
        text = json.dumps(self.payload(), sort_keys=True, separators=(",", ":"), allow_nan=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def params(self) -> dict[str, str]:
        """MLflow params: the normalised config, flattened — configuration only, never data."""
        flat = {
            "dataset": self.dataset,
            "task": self.task,
            # a custodian's file enters only the identity (keyed): never a param
            **({} if self.csv else {"dataset.schema_sha256": self.schema_sha256}),
            "model": self.model,
            "eval_model": ",".join(self.eval_models),
            "method": self.method,
            "privacy.epsilon": self.epsilon,
            "privacy.delta": self.delta,
            "size": self.size,
            "seed": self.seed,
            "references": self.references,
            **({"evaluate_on": self.evaluate_on} if self.evaluate_on != "test" else {}),
            "privacy.noise": self.noise,
        }
        flat.update(_flatten(self.model_params, "model.params"))
        for name in self.eval_models:
            if name != self.model:
                flat.update(_flatten(self.eval_model_params[name], f"eval_model.{name}.params"))
        flat.update(_flatten(self.method_params, "method.params"))
        if self.csv:  # options and file names only; the file's content enters as a hash
            flat.update(_flatten(self.csv, "dataset"))
        return {k: _text(v) for k, v in flat.items()}

    def tags(self) -> dict[str, str]:
        commit, dirty = git_state()
        return {
            "dataset": self.dataset,
            "task": self.task,
            "model": self.model,
            "eval_models": ",".join(self.eval_models),
            "method": self.method,
            "epsilon": _text(self.epsilon),
            "delta": _text(self.delta),
            "size": str(self.size),
            "seed": str(self.seed),
            "git_commit": commit,
            "git_dirty": _text(dirty),
            "method_version": str(self.versions.get("method", "")),
        }

    def run_name(self) -> str:
        return f"{self.dataset}/{self.model}/{self.method} eps={_text(self.epsilon)} size={self.size} seed={self.seed}"


@functools.lru_cache(maxsize=1)
def git_state() -> tuple[str, bool]:
    """(commit, dirty) of the project checkout; ("unknown", False) outside a git work tree."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout
        return commit, bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        return "unknown", False


def _identity_params(method: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
    """A registered method's parameters as its identity hashes them (late parameters at their default out)."""
    from dpcondense.methods import METHODS  # lazy: the spec module stays import-light

    return METHODS.get(method).identity_params(params) if method in METHODS else params


def _flatten(obj: Any, prefix: str) -> dict[str, Any]:
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}.{k}"))
        return out
    return {prefix: obj}


def _text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "inf" if value == math.inf else repr(value)
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, sort_keys=True)
    return str(value)
