"""Make the Pulumi program's modules and the local plan helpers importable.

The program in ``infra/`` runs with its own directory as the working
directory, so its modules import each other as top-level names
(``import platform_config``); the tests import them the same way.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
INFRA = HERE.parents[1] / "infra"

for path in (INFRA, HERE):
    if str(path) not in sys.path:
        # Appended, not prepended: these names must never shadow installed packages.
        sys.path.append(str(path))
