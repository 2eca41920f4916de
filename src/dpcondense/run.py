"""``dpcondense run``: the Hydra app. One run = compose → identity → skip or condense → log to MLflow.

``dpcondense run [overrides]`` (or ``python -m dpcondense.run``) runs one configuration;
``dpcondense run -m ...`` sweeps (joblib on all cores by default). The config groups live in
``conf/`` and are documented in ``conf/README.md``.

The run identity is the SHA-256 of the *normalised* run configuration (:class:`RunSpec`): task
defaults filled in (``model``, ``eval_model``, ``size``), numbers parsed, and every key that only
says where or how to report left out (``tracking``, ``experiment_name``, ``progress``,
``dry_run``, the ``hydra`` node, the dataset card's prose). So ``size=null`` and ``size=10`` on a
classification dataset are the same run, and moving the store re-runs nothing. If MLflow already
holds a ``FINISHED`` run with that identity, the run is skipped. The git commit is a tag, not part
of the identity: new code does not invalidate finished runs (change ``IDENTITY_VERSION`` or the
experiment name to force a re-run).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import math
import subprocess
import sys
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import hydra
from omegaconf import DictConfig, OmegaConf

from dpcondense import tracking
from dpcondense.paths import CONF_DIR, PROJECT_ROOT

#: bump when the meaning of RunSpec changes, so old and new identities never collide
IDENTITY_VERSION = 1
#: keys of the composed config that say where or how to report, never what is computed
OUTPUT_ONLY_KEYS = ("tracking", "experiment_name", "progress", "dry_run", "hydra")
#: dataset-schema keys that change what is computed (the card and description are prose)
_SCHEMA_KEYS = ("name", "task", "public", "features", "outcome")
#: method arguments set from other config keys, not from ``method.params``
#: ``dataset=csv`` keys that say where the files are (not part of the identity; the content hash is)
_CSV_LOCATION_KEYS = ("path", "schema_path")
_RESERVED_METHOD_ARGS = ("model", "size", "epsilon", "delta", "random_state", "model_params", "progress")


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
    #: ``dataset=csv`` only: the file options (``delimiter``, ``encoding``, ``n_public``,
    #: ``count_share``) are hashed; ``path`` / ``schema_path`` are where, not what, and are not
    csv: dict[str, Any] | None = None

    def payload(self) -> dict[str, Any]:
        """The hashed content (JSON-ready; ``inf`` kept as a float)."""
        return {
            "identity_version": IDENTITY_VERSION,
            "dataset": {"name": self.dataset, "task": self.task, "schema_sha256": self.schema_sha256},
            "model": {"name": self.model, "params": self.model_params},
            "eval_model": {name: self.eval_model_params[name] for name in self.eval_models},
            "method": {"name": self.method, "params": self.method_params},
            "privacy": {"epsilon": self.epsilon, "delta": self.delta},
            "size": self.size,
            "seed": self.seed,
            "references": self.references,
            **({"csv": {k: v for k, v in self.csv.items() if k not in _CSV_LOCATION_KEYS}} if self.csv else {}),
        }

    @property
    def identity(self) -> str:
        text = json.dumps(self.payload(), sort_keys=True, separators=(",", ":"), allow_nan=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def params(self) -> dict[str, str]:
        """MLflow params: the normalised config, flattened — configuration only, never data."""
        flat = {
            "dataset": self.dataset,
            "task": self.task,
            "dataset.schema_sha256": self.schema_sha256,
            "model": self.model,
            "eval_model": ",".join(self.eval_models),
            "method": self.method,
            "privacy.epsilon": self.epsilon,
            "privacy.delta": self.delta,
            "size": self.size,
            "seed": self.seed,
            "references": self.references,
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
        }

    def run_name(self) -> str:
        return f"{self.dataset}/{self.model}/{self.method} eps={_text(self.epsilon)} size={self.size} seed={self.seed}"


# ---------------------------------------------------------------------------------------------
# compose → RunSpec (every check that can fail happens here, before any work)
# ---------------------------------------------------------------------------------------------


def resolve_run(cfg: DictConfig | Mapping[str, Any]) -> RunSpec:
    """Validate a composed config and normalise it into a :class:`RunSpec`.

    Raises
    ------
    RunConfigError
        Unknown dataset/model/method/eval model, a model or eval model of the other task,
        ``epsilon <= 0``, ``delta`` outside ``(0, 1/n)``, ``size < 1``, a bad seed, or a method
        parameter the method does not take.
    """
    from dpcondense.commands.condense import default_size
    from dpcondense.datasets import DATASETS
    from dpcondense.privacy import PrivacyParameterError, parse_epsilon, validate_privacy_params

    if isinstance(cfg, DictConfig):
        # a sweep job's config still holds the hydra node, whose interpolations need a running job
        conf = OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=True)
    else:
        conf = {k: v for k, v in cfg.items() if k != "hydra"}

    dataset_cfg = conf.get("dataset") or {}
    dataset, task = dataset_cfg.get("name"), dataset_cfg.get("task")
    csv_options: dict[str, Any] | None = None
    if dataset == "csv":
        csv_options, task, schema_sha256, csv_rows = _resolve_csv(dataset_cfg)
        dataset = csv_options["dataset_name"]
    else:
        if dataset not in DATASETS:
            raise RunConfigError(
                f"dataset={dataset!r} is not a registered dataset; available: {', '.join(DATASETS.names())} "
                "(or dataset=csv dataset.path=... dataset.schema=... for your own file)"
            )
        if task not in ("classification", "survival"):
            raise RunConfigError(f"dataset.task must be classification or survival, got {task!r}")
        schema = {k: dataset_cfg.get(k) for k in _SCHEMA_KEYS}
        schema_sha256 = hashlib.sha256(json.dumps(schema, sort_keys=True, default=str).encode()).hexdigest()

    model, model_params = _condensing_family(conf.get("model"), dataset, task)
    eval_models = _eval_families(conf.get("eval_model"), model, task)
    eval_model_params = {n: (dict(model_params) if n == model else family_params(n)) for n in eval_models}
    method, method_params = _method(conf.get("method") or {}, conf.get("plugins") or [])

    # privacy: epsilon > 0 (or inf); 0 < delta < 1/n with n the private (training) rows
    privacy = conf.get("privacy") or {}
    try:
        epsilon = parse_epsilon(privacy.get("epsilon"))
        n_private = private_rows(dataset_cfg, method_params) if csv_options is None else csv_rows
        delta = validate_privacy_params(epsilon=epsilon, delta=privacy.get("delta"), n=n_private)["delta"]
    except PrivacyParameterError as exc:  # messages start with "epsilon=..." / "delta=..."
        raise RunConfigError(f"privacy.{exc}") from None

    # size: null = task default (10 rows per class / 50 rows)
    size = conf.get("size")
    if size is None:
        size = default_size(task)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        unit = "rows per class (at least one row of each of the 2 classes)" if task == "classification" else "synthetic rows in total"
        raise RunConfigError(f"size={size!r} must be an integer >= 1: {unit} for a {task} dataset")

    seed = conf.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise RunConfigError(f"seed={seed!r} must be an integer >= 0")

    references = conf.get("references", False)
    if not isinstance(references, bool):
        raise RunConfigError(f"references must be true or false, got {references!r}")

    return RunSpec(
        dataset=dataset,
        task=task,
        schema_sha256=schema_sha256,
        model=model,
        model_params=model_params,
        eval_models=eval_models,
        eval_model_params=eval_model_params,
        method=method,
        method_params=method_params,
        epsilon=float(epsilon),
        delta=float(delta),
        size=int(size),
        seed=int(seed),
        references=references,
        progress=bool(conf.get("progress", True)),
        csv=csv_options,
    )


def _resolve_csv(dataset_cfg: Mapping[str, Any]) -> tuple[dict[str, Any], str, str, int]:
    """``dataset=csv``: check the file options and read the schema (not the CSV) before any work.

    Returns the options, the schema's task, the identity hash of (CSV bytes, schema bytes) and
    the n that bounds delta (``n_public`` if given, else the file's training-split size).
    The CSV's rows are read only by :func:`dpcondense.custodian.condense_csv` inside the run;
    delta is checked there against the real training size when ``n_public`` is not given.
    """
    from dpcondense.custodian import csv_identity, load_user_schema, read_user_csv
    from dpcondense.schema import SchemaError

    paths = {}
    for key in ("path", "schema"):
        value = dataset_cfg.get(key)
        if value in (None, "???", ""):
            raise RunConfigError(f"dataset=csv needs dataset.{key}=<file> (the {'CSV file' if key == 'path' else 'schema YAML'})")
        path = Path(str(value)).expanduser()
        if not path.is_file():
            raise RunConfigError(f"dataset.{key}={value}: file not found")
        paths[key] = path.resolve()
    try:
        schema = load_user_schema(paths["schema"])
    except SchemaError as exc:
        raise RunConfigError(f"dataset.schema={paths['schema']}: {exc}") from None
    n_public = dataset_cfg.get("n_public")
    if n_public is not None and (isinstance(n_public, bool) or not isinstance(n_public, int) or n_public < 1):
        raise RunConfigError(f"dataset.n_public={n_public!r} must be null or an integer >= 1 (the public training-split size)")
    count_share = dataset_cfg.get("count_share", 0.02)
    if isinstance(count_share, bool) or not isinstance(count_share, (int, float)) or not 0.0 < float(count_share) < 1.0:
        raise RunConfigError(f"dataset.count_share={count_share!r} must be a number in (0, 1)")
    for key in ("delimiter", "encoding"):
        value = dataset_cfg.get(key)
        if value is not None and not isinstance(value, str):
            raise RunConfigError(f"dataset.{key}={value!r} must be null or a string")
    # read and validate the file now, so a bad row or column is a clear error before any work;
    # its row count only bounds delta here (the method's n is n_public or the DP count)
    try:
        data, _ = read_user_csv(paths["path"], schema, delimiter=dataset_cfg.get("delimiter"), encoding=dataset_cfg.get("encoding"))
    except ValueError as exc:
        raise RunConfigError(f"dataset.path={paths['path']}: {exc}") from None
    n_train = private_rows({"public": {"n_rows": data.n_rows}}, {})
    options = {
        "dataset_name": schema.name,
        "path": str(paths["path"]),
        "schema_path": str(paths["schema"]),
        "delimiter": dataset_cfg.get("delimiter"),
        "encoding": dataset_cfg.get("encoding"),
        "n_public": None if n_public is None else int(n_public),
        "count_share": float(count_share),
    }
    delta_rows = n_train if n_public is None else int(n_public)
    return options, schema.task, csv_identity(paths["path"], paths["schema"]), delta_rows


def _families_of(task: str) -> list[str]:
    from dpcondense.models import MODELS

    return [n for n in MODELS.names() if MODELS.get(n).task == task]


def _condensing_family(model_cfg: Mapping[str, Any] | None, dataset: str, task: str) -> tuple[str, dict[str, Any]]:
    """``model`` group: null = the task's default family with its conf/model params."""
    from dpcondense.commands.condense import default_model
    from dpcondense.models import MODELS

    if model_cfg is None:
        model = default_model(task)
        return model, family_params(model)
    model, params = model_cfg.get("name"), dict(model_cfg.get("params") or {})
    if model not in MODELS:
        raise RunConfigError(f"model={model!r} is not a registered model family; available: {', '.join(MODELS.names())}")
    if MODELS.get(model).task != task:
        raise RunConfigError(
            f"model={model} is a {MODELS.get(model).task} family but dataset={dataset} is a {task} dataset; "
            f"choose one of: {', '.join(_families_of(task))}"
        )
    return model, params


def _eval_families(raw: Any, model: str, task: str) -> list[str]:
    """``eval_model``: null = the condensing family; a name; a list of names; "all" = the task's families."""
    from dpcondense.evaluate import check_eval_model

    if raw is None:
        names = [model]
    elif raw == "all":
        names = _families_of(task)
    elif isinstance(raw, str):
        names = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(n, str) for n in raw):
        names = list(dict.fromkeys(raw))
    else:
        raise RunConfigError(f"eval_model must be null, a family name, a list of names or 'all', got {raw!r}")
    for name in names:
        try:
            check_eval_model(name, task)
        except (KeyError, ValueError) as exc:
            raise RunConfigError(f"eval_model={name}: {exc}") from None
    return names


def _method(method_cfg: Mapping[str, Any], plugins: list[str]) -> tuple[str, dict[str, Any]]:
    """``method`` group: a registered method (after importing ``plugins``) and its own parameters."""
    from dpcondense.methods import METHODS, load_plugins

    try:
        load_plugins(plugins)
    except ImportError as exc:
        raise RunConfigError(f"plugins: {exc}") from None
    method = method_cfg.get("name")
    if method not in METHODS:
        raise RunConfigError(f"method={method!r} is not a registered method; available: {', '.join(METHODS.names())}")
    params = dict(method_cfg.get("params") or {})
    signature = inspect.signature(METHODS.get(method).__init__).parameters
    takes_any = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in signature.values())
    own = sorted(k for k, p in signature.items() if p.kind == inspect.Parameter.KEYWORD_ONLY and k not in _RESERVED_METHOD_ARGS)
    for key in params:
        if key in _RESERVED_METHOD_ARGS:
            raise RunConfigError(
                f"method.params.{key} is set by another key (model, model.params, size, privacy.*, seed, progress); remove it"
            )
        if key not in signature and not takes_any:
            raise RunConfigError(f"method {method!r} has no parameter {key!r}; its parameters: {', '.join(own) or 'none'}")
    return method, params


@functools.lru_cache(maxsize=None)
def _family_params_cached(name: str) -> str:
    path = CONF_DIR / "model" / f"{name}.yaml"
    params = OmegaConf.to_container(OmegaConf.load(path)).get("params") if path.is_file() else None
    return json.dumps(params or {})


def family_params(name: str) -> dict[str, Any]:
    """Hyperparameters of a family from ``conf/model/<name>.yaml`` (``{}`` if it has no file)."""
    return json.loads(_family_params_cached(name))


def private_rows(dataset_cfg: Mapping[str, Any], method_params: Mapping[str, Any]) -> int | None:
    """Public size n of the private training split (bounds delta), from the schema alone."""
    from dpcondense.data import train_test_split

    if method_params.get("n_public") is not None:
        return int(method_params["n_public"])
    n_rows = (dataset_cfg.get("public") or {}).get("n_rows")
    if n_rows is None:
        return None
    # the split keeps ceil(test_size * n) rows for testing (scikit-learn's rule)
    test_size = inspect.signature(train_test_split).parameters["test_size"].default
    return int(n_rows) - math.ceil(test_size * int(n_rows))


# ---------------------------------------------------------------------------------------------
# skip or run
# ---------------------------------------------------------------------------------------------


def execute(spec: RunSpec, cfg: DictConfig, store: tracking.RunStore) -> dict[str, Any]:
    """Skip the run if ``store`` has it FINISHED; else condense, evaluate and log it.

    Returns ``{"status": "done" | "skipped" | "failed", "identity": ..., "error": ...}``. A failure
    is recorded as a FAILED run (tag ``error``, artifact ``error.txt``) and returned, not raised.
    """
    from dpcondense.commands.condense import write_outputs
    from dpcondense.methods import METHODS

    identity = spec.identity
    if store.is_finished(identity):
        print(f"skipped (already done): {identity}", flush=True)
        return {"status": "skipped", "identity": identity}
    store.discard_unfinished(identity)  # a killed or failed earlier attempt
    tags = spec.tags()
    overrides = _job_overrides()
    if overrides:
        tags["overrides"] = overrides
    run_id = store.start(identity, tags=tags, params=spec.params(), run_name=spec.run_name())

    method_params = dict(spec.method_params)
    method_params["model_params"] = spec.model_params
    if "progress" in inspect.signature(METHODS.get(spec.method).__init__).parameters:
        method_params["progress"] = spec.progress
    try:
        result = _condense(spec, method_params)
        metrics = _run_metrics(result, spec)
        estimator = result["estimator"]
        store.log_metrics(run_id, metrics, curves={"objective": list(getattr(estimator, "history_", None) or [])})
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run"
            write_outputs(out, result)  # synthetic.csv, ledger.json, metrics.json
            (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
            (out / "run_spec.json").write_text(json.dumps({"identity": identity, **spec.payload()}, indent=2, sort_keys=True) + "\n")
            store.log_artifacts(run_id, out)
        store.finish(run_id)  # the commit marker: only now is the run "done"
    except KeyboardInterrupt as exc:
        store.fail(run_id, exc, traceback.format_exc(), status="KILLED")
        raise
    except Exception as exc:  # noqa: BLE001 - a failed run must not stop the sweep
        store.fail(run_id, exc, traceback.format_exc())
        print(f"failed: {identity} ({spec.run_name()}): {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        traceback.print_exc(file=sys.stderr)
        return {"status": "failed", "identity": identity, "error": f"{type(exc).__name__}: {exc}"}
    shown = ", ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items()) if k.startswith(f"{spec.eval_models[0]}."))
    print(f"done: {identity} ({spec.run_name()}) {shown}", flush=True)
    return {"status": "done", "identity": identity}


def _condense(spec: RunSpec, method_params: dict[str, Any]) -> dict[str, Any]:
    """Condense and evaluate: a built-in dataset through the pipeline, a user CSV through the custodian."""
    common = dict(
        method=spec.method,
        model=spec.model,
        eval_models=spec.eval_models,
        eval_model_params=spec.eval_model_params,
        epsilon=spec.epsilon,
        delta=spec.delta,
        size=spec.size,
        seed=spec.seed,
        method_params=method_params,
        references=spec.references,
    )
    if spec.csv is None:
        from dpcondense.pipeline import condense

        return condense(dataset_name=spec.dataset, **common)
    from dpcondense.custodian import condense_csv

    result = condense_csv(
        spec.csv["path"],
        spec.csv["schema_path"],
        delimiter=spec.csv["delimiter"],
        encoding=spec.csv["encoding"],
        n_public=spec.csv["n_public"],
        count_share=spec.csv["count_share"],
        **common,
    )
    # the custodian's report.md (distances of released rows to real rows) stays on the custodian's
    # machine (`dpcondense condense --csv`); the tracked run keeps only DP outputs and test metrics
    result.pop("extra_files", None)
    result["config"].pop("csv", None)
    return result


def _run_metrics(result: Mapping[str, Any], spec: RunSpec) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in spec.eval_models:
        out.update({f"{name}.{k}": float(v) for k, v in result["metrics"][name].items()})
    for ref in ("full_data", "random_subset"):
        for name, values in result["metrics"].get(ref, {}).items():
            out.update({f"{ref}.{name}.{k}": float(v) for k, v in values.items()})
    ledger = result["ledger"]
    out["epsilon_spent"] = float(ledger.total_epsilon)
    out["delta_spent"] = float(ledger.total_delta)
    out["wall_seconds"] = float(result["wall_seconds"])
    n_fits = getattr(result["estimator"], "n_model_fits_", None)
    if n_fits is not None:
        out["n_model_fits"] = float(n_fits)
    return out


# ---------------------------------------------------------------------------------------------
# the Hydra app
# ---------------------------------------------------------------------------------------------


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> dict[str, Any]:
    """Run one composed configuration (one job of a sweep)."""
    in_sweep = _in_multirun()
    try:
        spec = resolve_run(cfg)
        target = tracking.target_from_config(cfg.tracking, cfg.experiment_name)
        store = tracking.prepare(target)
    except (RunConfigError, tracking.TrackingError) as exc:
        if in_sweep:  # the sweep checked every job up front; this is a safety net
            print(f"invalid run: {exc}", file=sys.stderr, flush=True)
            return {"status": "failed", "identity": None, "error": str(exc)}
        print(f"dpcondense run: error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    if cfg.get("dry_run") and not in_sweep:
        state = "already done, would be skipped" if store.is_finished(spec.identity) else "would run"
        print(f"dry run: {spec.identity} ({spec.run_name()}): {state}", flush=True)
        return {"status": "dry_run", "identity": spec.identity}
    result = execute(spec, cfg, store)
    if result["status"] == "failed" and not in_sweep:
        raise SystemExit(1)
    return result


def _in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _job_overrides() -> str:
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return ""
    return " ".join(HydraConfig.get().overrides.task)


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


if __name__ == "__main__":
    # run the function of the importable module, not of __main__: launchers that pickle the task
    # (submitit, ray) must find it by reference in their worker processes
    from dpcondense.run import main as _importable_main

    _importable_main()
