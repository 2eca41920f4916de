"""Privacy: parameter checks, accounting, noise calibration, the ledger and the empirical audit.

Layout (each module imports only the ones listed before it):

- :mod:`~dpcondense.privacy.validation`: :func:`parse_epsilon` (the project's one epsilon parser),
  :func:`validate_privacy_params` and :class:`PrivacyParameterError`.
- :mod:`~dpcondense.privacy.mechanisms`: the analytic Gaussian mechanism
  (:func:`gaussian_mechanism_sigma`, :func:`epsilon_gaussian`) and :func:`split_budget`.
- :mod:`~dpcondense.privacy.counts`: :func:`dp_count`, a DP row count (Laplace or Gaussian).
- :mod:`~dpcondense.privacy.pld`: ``dp_accounting``'s PLD accountant sharing the steps' PLD
  (:class:`~dpcondense.privacy.pld.SharedStepsPLDAccountant`) and the size of one step's grid.
- :mod:`~dpcondense.privacy.search`: certified searches for the smallest noise multiplier
  meeting a target epsilon (exact, or steered by a coarser grid when evaluations are expensive).
- :mod:`~dpcondense.privacy.accounting`: epsilon of T Poisson-subsampled Gaussian steps (PLD or
  RDP, :func:`compute_epsilon`), :func:`calibrate_noise_multiplier`, and the rho-zCDP
  conversions :func:`zcdp_to_epsilon` / :func:`epsilon_to_zcdp`.
- :mod:`~dpcondense.privacy.composition`: a run's mechanisms as :class:`PrivacyEvent` s,
  composed jointly (:func:`joint_epsilon`) and :func:`calibrate_joint` for the steps' noise.
- :mod:`~dpcondense.privacy.ledger`: :class:`PrivacyLedger`, every use of the private data in a
  run, composed by basic composition and checked against the budget (entries with an event
  also compose jointly: :attr:`PrivacyLedger.joint_epsilon`).
- :mod:`dpcondense.privacy.audit`: the canary membership-inference audit. It runs condensation
  methods, which themselves import this package, so it is not imported here: import
  ``dpcondense.privacy.audit`` explicitly.
"""

from __future__ import annotations

from dpcondense.privacy.accounting import (
    PLD_MAX_DISCRETIZATION_INTERVAL,
    PLD_MIN_DISCRETIZATION_INTERVAL,
    RDP_ORDERS,
    calibrate_noise_multiplier,
    clear_accounting_cache,
    compute_epsilon,
    epsilon_to_zcdp,
    make_dp_event,
    pld_discretization_interval,
    zcdp_to_epsilon,
)
from dpcondense.privacy.composition import (
    EVENT_FIELDS,
    EventKind,
    EventLike,
    JointCalibration,
    PrivacyEvent,
    as_event,
    calibrate_joint,
    clear_composition_cache,
    gaussian_event,
    joint_epsilon,
    laplace_event,
    pure_event,
    subsampled_gaussian_event,
    zcdp_event,
)
from dpcondense.privacy.counts import CountMechanism, dp_count
from dpcondense.privacy.ledger import (
    BUDGET_TOLERANCE,
    LedgerEntry,
    PrivacyBudgetExceededError,
    PrivacyLedger,
)
from dpcondense.privacy.mechanisms import epsilon_gaussian, gaussian_mechanism_sigma, split_budget
from dpcondense.privacy.validation import (
    ACCOUNTANTS,
    Accountant,
    PrivacyParameterError,
    parse_epsilon,
    validate_privacy_params,
)

__all__ = [
    "ACCOUNTANTS",
    "Accountant",
    "BUDGET_TOLERANCE",
    "CountMechanism",
    "EVENT_FIELDS",
    "EventKind",
    "EventLike",
    "JointCalibration",
    "LedgerEntry",
    "PLD_MAX_DISCRETIZATION_INTERVAL",
    "PLD_MIN_DISCRETIZATION_INTERVAL",
    "PrivacyBudgetExceededError",
    "PrivacyEvent",
    "PrivacyLedger",
    "PrivacyParameterError",
    "RDP_ORDERS",
    "as_event",
    "calibrate_joint",
    "calibrate_noise_multiplier",
    "clear_accounting_cache",
    "clear_composition_cache",
    "compute_epsilon",
    "dp_count",
    "epsilon_gaussian",
    "epsilon_to_zcdp",
    "gaussian_event",
    "gaussian_mechanism_sigma",
    "joint_epsilon",
    "laplace_event",
    "pure_event",
    "make_dp_event",
    "parse_epsilon",
    "pld_discretization_interval",
    "split_budget",
    "subsampled_gaussian_event",
    "validate_privacy_params",
    "zcdp_event",
    "zcdp_to_epsilon",
]
