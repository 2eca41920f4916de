"""Every registered method and family declares its hyperparameters, and the declarations hold.

Parametrised over the registries: each constructor keyword (``random_state``, ``progress`` and
private ``_`` hooks aside) has a :class:`~dpcondense.params.ParamSpec` with a doc, no spec names
a keyword the constructor does not take, the constructor's defaults and the values of
``conf/method/*.yaml`` / ``conf/model/*.yaml`` satisfy their specs, and ``check_params`` says
what is wrong in one line.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import yaml

from dpcondense.methods import METHODS, make_method
from dpcondense.models import MODELS, make_model
from dpcondense.params import ParamSpec, check_params
from dpcondense.paths import CONF_DIR

#: constructor keywords that are not hyperparameters
NOT_HYPERPARAMETERS = ("random_state", "progress")
COMPONENTS = [("method", n) for n in METHODS.names()] + [("model", n) for n in MODELS.names()]


def component(kind: str, name: str):
    return METHODS.get(name) if kind == "method" else MODELS.get(name)


def hyperparameters(cls) -> dict[str, inspect.Parameter]:
    return {
        k: p
        for k, p in inspect.signature(cls.__init__).parameters.items()
        if p.kind is p.KEYWORD_ONLY and k not in NOT_HYPERPARAMETERS and not k.startswith("_")
    }


@pytest.mark.parametrize("kind,name", COMPONENTS)
def test_every_hyperparameter_is_declared_and_documented(kind, name):
    cls = component(kind, name)
    assert cls.param_specs is not None, f"{kind} {name}: declare param_specs (an empty dict when it takes none)"
    keywords = hyperparameters(cls)
    assert set(cls.param_specs) == set(keywords), f"{kind} {name}: specs {sorted(cls.param_specs)} != keywords {sorted(keywords)}"
    for key, spec in cls.param_specs.items():
        assert isinstance(spec, ParamSpec) and spec.doc, f"{kind} {name}: {key} needs a ParamSpec with a doc"
        assert spec.describe(), f"{kind} {name}: {key} describes no allowed value"


@pytest.mark.parametrize("kind,name", COMPONENTS)
def test_the_defaults_satisfy_their_specs(kind, name):
    cls = component(kind, name)
    defaults = {k: p.default for k, p in hyperparameters(cls).items()}
    assert check_params(f"{kind} {name!r}", cls.param_specs, defaults) == defaults


@pytest.mark.parametrize("kind,name", COMPONENTS)
def test_the_config_values_satisfy_their_specs(kind, name):
    cls = component(kind, name)
    params = yaml.safe_load((CONF_DIR / kind / f"{name}.yaml").read_text()).get("params") or {}
    assert check_params(f"{kind} {name!r}", cls.param_specs, params) == params
    # and the Python API takes them as they are
    built = make_method(name, **params) if kind == "method" else make_model(name, random_state=0, **params)
    assert built is not None


@pytest.mark.parametrize("kind,name", COMPONENTS)
def test_the_python_api_refuses_an_unknown_key_naming_the_known_ones(kind, name):
    cls = component(kind, name)
    build = (lambda **p: make_method(name, **p)) if kind == "method" else (lambda **p: make_model(name, **p))
    with pytest.raises(ValueError, match=rf"{kind} '{name}' has no parameter 'no_such_key'; its parameters: ") as info:
        build(no_such_key=1)
    assert all(k in str(info.value) for k in cls.param_specs)


# ------------------------------------------------------------------------ the checks themselves

SPECS = {
    "steps": ParamSpec(int, low=1, doc="steps"),
    "lr": ParamSpec(float, low=0.0, low_open=True, doc="step size"),
    "share": ParamSpec(float, low=0.0, high=1.0, low_open=True, high_open=True, doc="a share"),
    "mode": ParamSpec(str, choices=("adam", "sgd"), doc="optimiser"),
    "flag": ParamSpec(bool, doc="a switch"),
    "n": ParamSpec(int, low=1, allow_none=True, doc="a size"),
    "samples": ParamSpec(int, low=1, choices=("size", "large"), doc="rows"),
    "layers": ParamSpec(list, low=1, item=ParamSpec(int, low=1, high=8), doc="widths"),
    "shares": ParamSpec(dict, keys=("a", "b"), item=ParamSpec(float, low=0.0, low_open=True), allow_none=True, doc="shares"),
    "features": ParamSpec(
        int, low=1, choices=("sqrt",), allow_none=True, alternative=ParamSpec(float, low=0.0, high=1.0, low_open=True), doc="f"
    ),
}

GOOD = {
    "steps": [1, 200, np.int64(3)],
    "lr": [0.05, 1, np.float64(2.0), 1e300],
    "share": [0.5, 1e-9],
    "mode": ["adam", "sgd"],
    "flag": [True, False, np.bool_(True)],
    "n": [None, 5],
    "samples": ["size", "large", 7],
    "layers": [[4], (4, 8), [1, 1, 1]],
    "shares": [None, {"a": 1.0, "b": 2}],
    "features": ["sqrt", None, 3, 0.5, 1.0],
}
BAD = {
    "steps": [0, -1, 2.0, 1.5, "3", True, None, float("nan")],
    "lr": [0, -0.1, "abc", float("nan"), float("inf"), -math.inf, None, False],
    "share": [0.0, 1.0, 2, "half"],
    "mode": ["Adam", "", 1, None],
    "flag": [1, 0, "true", None],
    "n": [0, 2.5, "5"],
    "samples": ["all", 0, 1.5, True],
    "layers": [[], [0], [9], "16", 16, [1.5], None],
    "shares": [{"a": 1.0}, {"a": 1, "b": 0}, {"a": 1, "b": 1, "c": 1}, [1, 2], {"a": 1, "b": float("nan")}],
    "features": ["log2", 0, 0.0, 1.5, -1],
}


@pytest.mark.parametrize("key,value", [(k, v) for k, vs in GOOD.items() for v in vs])
def test_allowed_values_pass_unchanged(key, value):
    assert check_params("method 'm'", SPECS, {key: value}) == {key: value}


@pytest.mark.parametrize("key,value", [(k, v) for k, vs in BAD.items() for v in vs])
def test_a_bad_value_is_one_line_naming_the_key_and_what_is_allowed(key, value):
    with pytest.raises(ValueError) as info:
        check_params("method 'm'", SPECS, {key: value}, key_prefix="method.params.")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"method.params.{key}=")
    assert f"must be {SPECS[key].describe()} (method 'm': {SPECS[key].doc})" in message


def test_messages_spell_out_ranges_choices_and_forms():
    describe = {k: s.describe() for k, s in SPECS.items()}
    assert describe["steps"] == "an integer >= 1"
    assert describe["lr"] == "a finite number > 0"
    assert describe["share"] == "a finite number in (0, 1)"
    assert describe["mode"] == "one of 'adam', 'sgd'"
    assert describe["n"] == "an integer >= 1 or null"
    assert describe["samples"] == "one of 'size', 'large' or an integer >= 1"
    assert describe["layers"] == "a list of integers in [1, 8] (length >= 1)"
    assert describe["shares"] == "a mapping with exactly the keys a, b (each a finite number > 0) or null"
    assert describe["features"] == "one of 'sqrt', an integer >= 1, a finite number in (0, 1] or null"


def test_an_unknown_key_lists_the_known_ones_and_passthrough_keys_are_taken():
    with pytest.raises(ValueError, match=r"^method 'm' has no parameter 'stepz'; its parameters: features, flag, layers, lr, mode"):
        check_params("method 'm'", SPECS, {"stepz": 3})
    assert check_params("method 'm'", SPECS, {"progress": True}, passthrough=["progress"]) == {"progress": True}
    assert check_params("method 'm'", {}, {}) == {}
    with pytest.raises(ValueError, match="its parameters: none"):
        check_params("method 'm'", {}, {"x": 1})
