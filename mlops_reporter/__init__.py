"""Training-side reporter for mlops-agent: signed events from a training script, one line.

Needs only the standard library and `standardwebhooks`; framework callbacks live in
`mlops_reporter.lightning` and `mlops_reporter.hf` and import their framework lazily.
"""

from mlops_reporter.reporter import Reporter, report
from mlops_reporter.sender import SenderStats
from mlops_reporter.transport import Delivery, Outcome, new_message_id, post_event

__all__ = [
    "Delivery",
    "Outcome",
    "Reporter",
    "SenderStats",
    "new_message_id",
    "post_event",
    "report",
]
