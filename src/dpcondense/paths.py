"""Where the project's config and results live (overridable for installed copies)."""

from __future__ import annotations

import os
from pathlib import Path

#: Repository root for an editable install (src/dpcondense/paths.py -> repo).
PROJECT_ROOT = Path(os.environ.get("DPCONDENSE_ROOT", Path(__file__).resolve().parents[2]))
#: Hydra config groups, and the public dataset schemas in conf/dataset/.
CONF_DIR = Path(os.environ.get("DPCONDENSE_CONF_DIR", PROJECT_ROOT / "conf"))
RESULTS_DIR = PROJECT_ROOT / "results"
#: the custodian's local secret that keys the identity of CSV runs (never logged, never shared)
LOCAL_KEY_FILE = Path(os.environ.get("DPCONDENSE_KEY_FILE", Path.home() / ".dpcondense" / "identity.key"))
