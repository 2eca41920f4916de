"""Validate a composed run configuration once, before any work, into a :class:`RunSpec`.

Every surface (the ``dpcondense condense`` command, the Hydra app, the custodian's Python API)
builds the same configuration mapping and passes it here; a bad value is a
:class:`RunConfigError` naming the key, the value and what is allowed.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
from pathlib import Path
from typing import Any, Mapping

from omegaconf import DictConfig, OmegaConf

from dpcondense.benchmark.guards import RunShape, check_epsilon, check_resources, encoded_columns
from dpcondense.benchmark.spec import RunConfigError, RunSpec, local_key
from dpcondense.conventions import TASKS, default_model, default_size
from dpcondense.data import train_test_split
from dpcondense.data.csv import csv_identity, load_user_schema, read_user_csv
from dpcondense.data.schema import SchemaError
from dpcondense.datasets import DATASETS
from dpcondense.datasets._common import recorded_checksum
from dpcondense.evaluate import check_eval_model
from dpcondense.methods import METHODS, check_method_params, load_plugins
from dpcondense.models import MODELS
from dpcondense.models.defaults import family_params
from dpcondense.params import check_params
from dpcondense.privacy import PrivacyParameterError, parse_epsilon, validate_privacy_params
from dpcondense.privacy.randomness import NOISE_MODES

#: dataset-schema keys that change what is computed (the card and description are prose)
_SCHEMA_KEYS = ("name", "task", "public", "features", "outcome")
#: where a run is scored: the test split (reported numbers) or a validation part of the training split (tuning)
EVALUATION_SPLITS = ("test", "validation")
#: mechanisms of a custodian file's DP row count (the first is the default)
COUNT_MECHANISMS = ("laplace", "gaussian")
#: method arguments set from other config keys, not from ``method.params``
RESERVED_METHOD_ARGS = ("model", "size", "epsilon", "delta", "random_state", "model_params", "noise", "prior", "progress")


def resolve_run(cfg: DictConfig | Mapping[str, Any]) -> RunSpec:
    """Validate a composed config and normalise it into a :class:`RunSpec`.

    Raises
    ------
    RunConfigError
        Unknown dataset/model/method/eval model, a model or eval model of the other task, a
        method that does not support the dataset's task, ``epsilon <= 0`` or so large its noise
        is irrelevant, ``delta`` outside ``(0, 1/n)``, ``size < 1`` or more synthetic rows than
        training rows, a bad seed, a method or family parameter the component does not take or
        outside its declared range, or a run whose inputs would allocate or compute too much
        (:mod:`dpcondense.benchmark.guards`).
    """
    if isinstance(cfg, DictConfig):
        # a sweep job's config still holds the hydra node, whose interpolations need a running job
        conf = OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=True)
    else:
        conf = {k: v for k, v in cfg.items() if k != "hydra"}

    dataset_cfg = conf.get("dataset") or {}
    csv_options: dict[str, Any] | None = None
    if dataset_cfg.get("name") == "csv":
        csv_options, task, schema_sha256, n_private, n_is_public, columns = _resolve_csv(dataset_cfg)
        dataset = csv_options["dataset_name"]
    else:
        dataset, task, schema_sha256 = _builtin_dataset(dataset_cfg)
        n_private, n_is_public = None, True  # from the card, once the method's parameters are known
        columns = encoded_columns(dataset_cfg)

    model, model_params = _condensing_family(conf.get("model"), dataset, task)
    eval_models = _eval_families(conf.get("eval_model"), model, task)
    eval_model_params = {
        n: dict(model_params) if n == model else _family_params(n, family_params(n), f"eval_model.{n}.params.")
        for n in eval_models
    }
    method, method_params = _method(conf.get("method") or {}, conf.get("plugins") or [])
    unsupported = METHODS.get(method).skip(task)
    if unsupported is not None:
        raise RunConfigError(f"method={method} on dataset={dataset}: {unsupported}")
    if csv_options is None:
        n_private = private_rows(dataset_cfg, method_params)
    epsilon, delta = _privacy(conf.get("privacy") or {}, n_private, n_is_public=n_is_public)
    noise = _noise((conf.get("privacy") or {}).get("noise"), csv=csv_options is not None)
    size, evaluate_on = _size(conf.get("size"), task), _evaluate_on(conf.get("evaluate_on", "test"))
    check_epsilon(epsilon)
    rows = training_rows(dataset_cfg, evaluate_on) if csv_options is None else (n_private if n_is_public else None)
    check_resources(RunShape(
        dataset=dataset, task=task, method=METHODS.get(method), params=method_params, size=size, rows=rows,
        columns=columns, csv=csv_options is not None, epsilon=epsilon,
    ))
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
        epsilon=epsilon,
        delta=delta,
        size=size,
        seed=_seed(conf.get("seed")),
        references=_references(conf.get("references", False)),
        progress=bool(conf.get("progress", True)),
        evaluate_on=evaluate_on,
        noise=noise,
        versions=component_versions(method, [model, *eval_models], dataset if csv_options is None else None, task),
        csv=csv_options,
    )


def component_versions(method: str, families: list[str], dataset: str | None, task: str | None = None) -> dict[str, Any]:
    """The versions a run's result depends on (part of its identity): method (on ``task``), families, data content."""
    return {
        "method": METHODS.get(method).version_for(task),
        "families": {name: MODELS.get(name).version for name in dict.fromkeys(families)},
        "dataset_checksum": None if dataset is None else recorded_checksum(dataset),
    }


def _builtin_dataset(dataset_cfg: Mapping[str, Any]) -> tuple[str, str, str]:
    """(name, task, hash of the card's schema keys) of a registered dataset."""
    dataset, task = dataset_cfg.get("name"), dataset_cfg.get("task")
    if dataset not in DATASETS:
        raise RunConfigError(
            f"dataset={dataset!r} is not a registered dataset; available: {', '.join(DATASETS.names())} "
            "(or dataset=csv dataset.path=... dataset.schema=... for your own file)"
        )
    if task not in TASKS:
        raise RunConfigError(f"dataset.task must be one of: {', '.join(TASKS)}; got {task!r}")
    schema = {k: dataset_cfg.get(k) for k in _SCHEMA_KEYS}
    return dataset, task, hashlib.sha256(json.dumps(schema, sort_keys=True, default=str).encode()).hexdigest()


def _privacy(privacy: Mapping[str, Any], n: int | None, *, n_is_public: bool) -> tuple[float, float]:
    """epsilon > 0 (or inf); 0 < delta < 1/n with n the private rows.

    When n is not public (a custodian's file without a declared size) it still bounds δ, but an
    error must not show it.
    """
    hidden = not n_is_public
    try:
        epsilon = parse_epsilon(privacy.get("epsilon"))
        delta = validate_privacy_params(epsilon=epsilon, delta=privacy.get("delta"), n=n)["delta"]
    except PrivacyParameterError as exc:  # messages start with "epsilon=..." / "delta=..."
        if hidden and str(exc).startswith("delta="):
            raise RunConfigError(
                f"privacy.delta={privacy.get('delta')!r} must satisfy 0 < delta < 1/n, n = the rows of your file "
                "(not shown: the count of your patients is private; declare public.n_rows in the schema to use it)"
            ) from None
        raise RunConfigError(f"privacy.{exc}") from None
    return float(epsilon), float(delta)


def _size(size: Any, task: str) -> int:
    """``size``: null = the task's default (10 rows per class / 50 rows)."""
    if size is None:
        return default_size(task)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        unit = "rows per class (at least one row of each of the 2 classes)" if task == "classification" else "synthetic rows in total"
        raise RunConfigError(f"size={size!r} must be an integer >= 1: {unit} for a {task} dataset")
    return int(size)


def _seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise RunConfigError(f"seed={seed!r} must be an integer >= 0")
    return int(seed)


def _noise(mode: Any, *, csv: bool) -> str:
    """``privacy.noise``: null = secure for a custodian's CSV, seeded (benchmark mode) for a built-in dataset."""
    if mode is None:
        return "secure" if csv else "seeded"
    if mode not in NOISE_MODES:
        raise RunConfigError(f"privacy.noise={mode!r} must be one of: {', '.join(NOISE_MODES)} (or null for the default)")
    if csv and mode == "seeded":
        raise RunConfigError(
            "privacy.noise=seeded is the benchmark mode for the built-in datasets: a release of your own file always "
            "draws its noise from the operating system's CSPRNG (use privacy.noise=secure or leave it null)"
        )
    return mode


def _evaluate_on(split: Any) -> str:
    if split not in EVALUATION_SPLITS:
        raise RunConfigError(f"evaluate_on={split!r} must be one of: {', '.join(EVALUATION_SPLITS)}")
    return split


def _references(references: Any) -> bool:
    if not isinstance(references, bool):
        raise RunConfigError(f"references must be true or false, got {references!r}")
    return references


def _resolve_csv(dataset_cfg: Mapping[str, Any]) -> tuple[dict[str, Any], str, str, int, bool, int]:
    """``dataset=csv``: check the file options, the schema and the file's rows before any work.

    Returns the options, the schema's task, the keyed digest of (CSV bytes, schema bytes) for the
    identity, the n that bounds delta (``n_public`` if given, else the schema's declared
    ``public.n_rows``, else the file's row count), whether that n is public, and the number of
    model-space columns.
    """

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
    count_mechanism = dataset_cfg.get("count_mechanism")
    if count_mechanism not in (None, *COUNT_MECHANISMS):
        raise RunConfigError(f"dataset.count_mechanism={count_mechanism!r} must be one of: {', '.join(COUNT_MECHANISMS)}")
    # read and validate the file now, so a bad row or column is a clear error before any work;
    # its row count only bounds delta here (the method's n is n_public or the DP count)
    try:
        data, _ = read_user_csv(paths["path"], schema, delimiter=dataset_cfg.get("delimiter"), encoding=dataset_cfg.get("encoding"))
    except ValueError as exc:
        raise RunConfigError(str(exc)) from None  # the data layer's message starts with the file
    declared = schema.public.get("n_rows")
    options = {
        "dataset_name": schema.name,
        "path": str(paths["path"]),
        "schema_path": str(paths["schema"]),
        "delimiter": dataset_cfg.get("delimiter"),
        "encoding": dataset_cfg.get("encoding"),
        "n_public": None if n_public is None else int(n_public),
        "count_share": float(count_share),
    }
    if count_mechanism not in (None, COUNT_MECHANISMS[0]):  # the default stays out of the identity
        options["count_mechanism"] = count_mechanism
    # the release is made from every row: n is the file's; a declared n is used as a constant,
    # never compared with the data (the comparison itself would be a private bit)
    n_is_public = n_public is not None or declared is not None
    delta_rows = int(n_public) if n_public is not None else (int(declared) if declared is not None else data.n_rows)
    digest = csv_identity(paths["path"], paths["schema"], key=local_key())
    return options, schema.task, digest, delta_rows, n_is_public, sum(f.n_encoded for f in schema.features)


def _families_of(task: str) -> list[str]:

    return [n for n in MODELS.names() if MODELS.get(n).task == task]


def _condensing_family(model_cfg: Mapping[str, Any] | None, dataset: str, task: str) -> tuple[str, dict[str, Any]]:
    """``model`` group: null = the task's default family with its conf/model params."""

    if model_cfg is None:
        model = default_model(task)
        return model, _family_params(model, family_params(model), "model.params.")
    if not isinstance(model_cfg, Mapping):
        raise RunConfigError(
            f"model={model_cfg!r} is not a model config group: select a family with `model=<name>` on the "
            "command line or `- override /model: <name>` in a preset's defaults list; "
            f"available: {', '.join(MODELS.names())}"
        )
    model, params = model_cfg.get("name"), dict(model_cfg.get("params") or {})
    if model not in MODELS:
        raise RunConfigError(f"model={model!r} is not a registered model family; available: {', '.join(MODELS.names())}")
    if MODELS.get(model).task != task:
        raise RunConfigError(
            f"model={model} is a {MODELS.get(model).task} family but dataset={dataset} is a {task} dataset; "
            f"choose one of: {', '.join(_families_of(task))}"
        )
    return model, _family_params(model, params, "model.params.")


def _family_params(name: str, params: dict[str, Any], key_prefix: str) -> dict[str, Any]:
    """A family's parameters checked against its ``param_specs`` (messages name ``key_prefix``<key>)."""
    specs = MODELS.get(name).param_specs
    if specs is None:
        return params
    try:
        return check_params(f"model {name!r}", specs, params, key_prefix=key_prefix)
    except ValueError as exc:
        raise RunConfigError(str(exc)) from None


def _eval_families(raw: Any, model: str, task: str) -> list[str]:
    """``eval_model``: null = the condensing family; a name; a list of names; "all" = the task's families."""

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
    own = sorted(
        k for k, p in signature.items()
        if p.kind == inspect.Parameter.KEYWORD_ONLY and k not in RESERVED_METHOD_ARGS and not k.startswith("_")
    )
    for key in params:
        if str(key).startswith("_"):
            raise RunConfigError(
                f"method.params.{key} is a private parameter of the code (e.g. for tests of the privacy checks): it cannot "
                f"be set from a command, a config or the custodian API; the method's parameters: {', '.join(own) or 'none'}"
            )
        if key in RESERVED_METHOD_ARGS:
            raise RunConfigError(
                f"method.params.{key} is set by another key (model, model.params, size, privacy.*, seed, progress) or by the run; remove it"
            )
        if key not in signature and not takes_any:
            raise RunConfigError(f"method {method!r} has no parameter {key!r}; its parameters: {', '.join(own) or 'none'}")
    try:
        return method, check_method_params(METHODS.get(method), params, key_prefix="method.params.")
    except ValueError as exc:
        raise RunConfigError(str(exc)) from None


def private_rows(dataset_cfg: Mapping[str, Any], method_params: Mapping[str, Any]) -> int | None:
    """Public size n of the private training split (bounds delta), from the schema alone."""

    if method_params.get("n_public") is not None:
        return int(method_params["n_public"])
    return training_rows(dataset_cfg, "test")


def training_rows(dataset_cfg: Mapping[str, Any], evaluate_on: str) -> int | None:
    """Rows a built-in dataset's method is fitted on, from the card's public ``n_rows`` alone.

    The training split of n rows (n − ⌈n/4⌉); with ``evaluate_on="validation"`` that split is
    split again the same way. ``None`` when the card declares no size.
    """
    n_rows = (dataset_cfg.get("public") or {}).get("n_rows")
    if n_rows is None:
        return None
    rows = _after_test_split(int(n_rows))
    return _after_test_split(rows) if evaluate_on == "validation" else rows


def _after_test_split(n: int) -> int:
    # the split keeps ceil(test_size * n) rows for testing (scikit-learn's rule)
    test_size = inspect.signature(train_test_split).parameters["test_size"].default
    return n - math.ceil(test_size * n)
