"""Optuna's median pruner as an adviser: its verdict on a running trial, never an action.

Pruners are not stored with a study, so the verdict is computed here from the
intermediate values the agent reported (`report_progress`): is this trial's
best so far worse than the median of the other trials at the same step?
Optuna's PatientPruner is left out on purpose: it only fires when a curve gets
*worse*, so it says "continue" on a flat one, which would mislead.
"""

from __future__ import annotations

import optuna
from optuna.pruners import BasePruner, MedianPruner
from optuna.trial import FrozenTrial

ADVISERS: dict[str, BasePruner] = {
    "median": MedianPruner(n_startup_trials=2, n_warmup_steps=2),
}


def advice_for(study: optuna.Study, trial: FrozenTrial) -> list[str]:
    """One line per adviser, e.g. 'median: prune' or 'median: continue'."""
    lines = []
    for name, pruner in ADVISERS.items():
        verdict = "prune" if pruner.prune(study, trial) else "continue"
        lines.append(f"{name}: {verdict}")
    return lines
