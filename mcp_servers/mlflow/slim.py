"""MLflow's tracking client without the data-science stack it would drag in.

`import mlflow` loads pandas, pyarrow and scipy when they are installed (the
full `mlflow` package brings them for the server): ~75 MiB in a process that
only speaks HTTP to a tracking server. `mlflow-skinny`, the client-only
distribution of the same code, runs without them, so its optional imports are
all guarded. Marking them absent before the first `import mlflow` gives this
process the skinny footprint. For the skill's own process only: never in a
process that already uses them.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow import MlflowClient

# Optional for mlflow-skinny; no client call the skill makes needs them.
NOT_NEEDED = ("pandas", "pyarrow", "scipy", "sklearn")


def tracking_client(tracking_uri: str) -> MlflowClient:
    for name in NOT_NEEDED:
        # None in sys.modules makes `import name` raise ImportError, as if not installed;
        # a module this process already imported is left alone.
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri)
