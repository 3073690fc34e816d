"""A tiny real Ultralytics YOLO training on CPU, offline, reported with `add_callbacks`.

Run by the tests with the separate Ultralytics venv's Python (`make install-yolo`), never
imported by pytest. Usage:

    tiny_train.py DATA_YAML PROJECT_DIR [--epochs N] [--no-val] [--fail-in-epoch E]

`--fail-in-epoch E` raises inside Ultralytics' epoch E (counted from 0, as Ultralytics
does), from a training-batch callback, as a real fault inside `model.train()` would.
The environment names the job and the service (`MLOPS_JOB`, `MLOPS_URL`,
`MLOPS_WEBHOOK_SECRET`) and keeps Ultralytics offline (`YOLO_OFFLINE`,
`YOLO_CONFIG_DIR`); see `tests/yolo/venv.py`.
"""

from __future__ import annotations

import argparse
from typing import Any

import torch


def declare_torchvision_ops() -> None:
    """TEST-ONLY SHIM: let PyPI's torchvision import next to the CPU torch we pin.

    PyPI's torchvision 0.28.0 is a CUDA build; with our CPU torch its compiled ops fail to
    load and `import torchvision` then dies in `_meta_registrations` with "operator
    torchvision::nms does not exist". Ultralytics' validator always imports torchvision.
    Declaring the two ops it registers fake kernels for lets the import finish; the NMS
    itself is then Ultralytics' own pure-torch `TorchNMS.nms` (see `use_torch_nms`).
    A real training machine has a matching torchvision and needs none of this, and the
    product never does it: it lives in this test script only.
    """
    torch.library.define(
        "torchvision::nms", "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor"
    )
    torch.library.define(
        "torchvision::qnms", "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor"
    )


def use_torch_nms() -> None:
    """TEST-ONLY SHIM, part two: torchvision's `ops.nms` would call the missing compiled
    kernel; Ultralytics' `TorchNMS.nms` computes the same with plain torch."""
    import torchvision
    from ultralytics.utils.nms import TorchNMS

    torchvision.ops.nms = TorchNMS.nms


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("project")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--no-val", dest="val", action="store_false")
    parser.add_argument("--fail-in-epoch", type=int, default=None)
    args = parser.parse_args()

    declare_torchvision_ops()
    from ultralytics import YOLO, settings

    use_torch_nms()
    settings.update({"sync": False, "mlflow": False, "tensorboard": False, "wandb": False})

    from mlops_reporter.ultralytics import add_callbacks

    model = YOLO("yolov8n.yaml")  # built from the yaml: no weights to download
    add_callbacks(model)
    if args.fail_in_epoch is not None:
        model.add_callback("on_train_batch_end", fail_in(args.fail_in_epoch))
    model.train(
        data=args.data,
        project=args.project,
        name="run",
        epochs=args.epochs,
        imgsz=64,
        batch=4,
        nbs=4,
        device="cpu",
        workers=0,
        plots=False,
        amp=False,
        val=args.val,
        verbose=False,
    )


def fail_in(epoch: int) -> Any:
    def fail(trainer: Any) -> None:
        if trainer.epoch == epoch:
            raise RuntimeError(
                f"CUDA error: an illegal memory access was encountered (epoch {epoch})"
            )

    return fail


if __name__ == "__main__":
    main()
