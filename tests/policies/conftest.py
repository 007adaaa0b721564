"""Make the baseline-stack helpers (``policy_stack``, ``policy_cases``) and the pack's package importable.

The pack's package is installed by ``make venv`` (``pip install -e ./policies``); when it is not,
the tests import it from the pack directory, exactly as ``python -m pulumi.policy`` does.
"""

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACK = HERE.parents[1] / "policies"

# Appended, not prepended: these directories must never shadow installed packages.
for path in (HERE, PACK):
    if path == PACK and importlib.util.find_spec("crossgate_azure_policies") is not None:
        continue
    if str(path) not in sys.path:
        sys.path.append(str(path))
