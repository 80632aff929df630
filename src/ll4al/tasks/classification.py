"""Classification: cross-entropy per sample, accuracy, balanced accuracy, per-class recall and
(two classes) AUROC, pad-and-crop plus flip augmentation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from ll4al.tasks.base import MetricError, TaskAdapter


class ClassificationTask(TaskAdapter):
    """Cross-entropy per sample; accuracy and, for imbalanced data (a rare finding among
    normal scans), balanced accuracy, per-class recall and (two classes) AUROC, any of which
    can be the reported metric; pad-and-crop plus flip augmentation."""

    metric_name = "accuracy"
    metric_choices = ("accuracy", "balanced_accuracy", "auroc")
    augmentation = "crop-flip"

    def collate_targets(self, labels: Sequence[Any], device: torch.device) -> torch.Tensor:
        return torch.as_tensor(labels, dtype=torch.long, device=device)

    def augment(
        self, inputs: torch.Tensor, targets: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return random_crop_flip(inputs, generator=generator), targets

    def per_sample_loss(self, output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(output.float(), targets, reduction="none")

    def metrics(
        self, outputs: Sequence[torch.Tensor], targets: Sequence[torch.Tensor]
    ) -> dict[str, float]:
        """``accuracy``; ``balanced_accuracy`` (the mean recall over the classes present);
        ``recall_<k>`` of each class ``k`` present; ``auroc`` with two classes, both present
        (scikit-learn's, on the second class's probability)."""
        from sklearn.metrics import balanced_accuracy_score, recall_score, roc_auc_score

        if not targets:
            return {"accuracy": 0.0}
        scores = torch.cat([o.float().softmax(dim=1) for o in outputs]).cpu().numpy()
        truth = torch.cat(list(targets)).cpu().numpy()
        predicted = scores.argmax(1)
        present = sorted(set(truth.tolist()))
        result = {
            "accuracy": float((predicted == truth).mean()),
            "balanced_accuracy": float(balanced_accuracy_score(truth, predicted)),
        }
        recalls = recall_score(truth, predicted, labels=present, average=None, zero_division=0)
        result.update({f"recall_{k}": float(r) for k, r in zip(present, recalls, strict=True)})
        if scores.shape[1] == 2 and len(present) == 2:
            result["auroc"] = float(roc_auc_score(truth, scores[:, 1]))
        elif self.metric_name == "auroc":
            raise MetricError("auroc needs two classes, both in the evaluation set")
        return result

    def predict_labels(self, output: torch.Tensor) -> list[int]:
        return output.argmax(dim=1).tolist()

    def probabilities(self, output: torch.Tensor) -> torch.Tensor:
        return output.float().softmax(dim=1)


def random_crop_flip(
    batch: torch.Tensor, padding: int = 4, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Pad-and-random-crop plus horizontal flip on a whole batch ``[B, C, H, W]`` at once.

    The batch is already normalised, so zero padding is padding with the mean colour.
    """
    b, c, h, w = batch.shape
    device = batch.device
    padded = torch.nn.functional.pad(batch, (padding,) * 4)
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(device)
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(device)
    rows = (dy[:, None] + torch.arange(h, device=device))[:, :, None]  # [B, H, 1]
    cols = (dx[:, None] + torch.arange(w, device=device))[:, None, :]  # [B, 1, W]
    cropped = padded[torch.arange(b, device=device)[:, None, None], :, rows, cols]  # [B,H,W,C]
    cropped = cropped.permute(0, 3, 1, 2)
    flip = (torch.rand(b, generator=generator) < 0.5).to(device)
    return torch.where(flip[:, None, None, None], cropped.flip(3), cropped).contiguous()
