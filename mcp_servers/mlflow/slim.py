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

# Optional for mlflow-skinny; no client call the skill makes needs them.
NOT_NEEDED = ("pandas", "pyarrow", "scipy", "sklearn")


def keep_data_science_stack_out() -> None:
    """Call before the first `import mlflow` in the skill's process."""
    for name in NOT_NEEDED:
        # None in sys.modules makes `import name` raise ImportError, as if not installed;
        # a module this process already imported is left alone.
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
