"""The smallest training script that reports to mlops-agent.

    pip install mlops-agent
    export MLOPS_URL=http://mlops-agent:8080 MLOPS_WEBHOOK_SECRET=whsec_... MLOPS_JOB=demo
    python examples/train_minimal.py [--epochs 3] [--fail-at 2]

Without MLOPS_URL / MLOPS_WEBHOOK_SECRET it trains anyway and says once on stderr that
reporting is off.
"""

from __future__ import annotations

import argparse
import math

from mlops_reporter import Reporter


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--fail-at", type=int, default=0, help="raise in this epoch (demo)")
    args = parser.parse_args()

    reporter = Reporter()
    with reporter.run(epochs=args.epochs):  # started, then finished or crashed
        for epoch in range(1, args.epochs + 1):
            if epoch == args.fail_at:
                raise FloatingPointError("loss became nan")
            loss = math.exp(-epoch)
            reporter.epoch(epoch, total=args.epochs, metrics={"loss": loss})


if __name__ == "__main__":
    main()
