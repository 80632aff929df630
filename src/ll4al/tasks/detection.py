"""Object detection with torchvision's SSD: per-image losses and detections from one pass.

``DetectionTask`` computes from ``SSDOutput``, per image, exactly the loss SSD would
(matching, box-regression and hard-negative-mined classification terms) and the detections
SSD would (its own ``postprocess_detections``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torchvision.models.detection.ssd import SSD
from torchvision.models.detection.transform import resize_boxes
from torchvision.ops import box_iou

from ll4al.tasks.base import MetricError, TaskAdapter, entropy


@dataclass
class SSDOutput:
    """SSD's raw head outputs for a batch, with what is needed to turn them into losses and
    detections: the anchors, the image sizes before and after SSD's resize, and the SSD."""

    cls_logits: torch.Tensor  # [B, A, classes + 1]
    bbox_regression: torch.Tensor  # [B, A, 4]
    anchors: list[torch.Tensor]  # B x [A, 4], in resized-image coordinates
    image_sizes: list[tuple[int, int]]  # after SSD's resize
    original_sizes: list[tuple[int, int]]
    detector: SSD


class DetectionTask(TaskAdapter):
    """Boxes and classes, the SSD way.

    Labels are ``{"boxes": [[x1, y1, x2, y2], ...], "labels": [...], "difficult": [...]}`` in
    pixels of the stored image, labels from 1 (0 is background).

    - loss per image: SSD's multibox loss for that image alone, ``(box regression + positive
      and hard-negative classification terms) / max(1, positive anchors)``. torchvision divides
      the batch's summed terms by the batch's positive anchors, so these per-image losses
      weighted by each image's positive-anchor count reproduce its batch loss;
    - metric ``map50``: mean over classes of the average precision at IoU 0.5, computed by
      torchmetrics' ``MeanAveragePrecision`` (COCO's 101-point interpolation, up to 100
      detections an image); ``difficult`` objects are neither hits nor misses, as in VOC. Also
      ``ap50_<class>`` per class;
    - uncertainty: the mean entropy of the class distributions of the image's ``top`` anchors
      by foreground score (the boxes non-maximum suppression would consider), the
      detection counterpart of entropy sampling (Roy et al. 2018 use max/mean/sum);
    - augmentation ``flip``: each image mirrored left-right with probability 1/2, boxes too.
    """

    metric_name = "map50"
    augmentation = "flip"

    def __init__(self, class_names: Sequence[str], top: int = 100) -> None:
        self.class_names = list(class_names)
        self.top = top

    def collate_targets(
        self, labels: Sequence[dict[str, Any]], device: torch.device
    ) -> list[dict[str, torch.Tensor]]:
        return [
            {
                "boxes": torch.as_tensor(
                    label["boxes"], dtype=torch.float32, device=device
                ).reshape(-1, 4),
                "labels": torch.as_tensor(label["labels"], dtype=torch.int64, device=device),
                "difficult": torch.as_tensor(
                    label.get("difficult", [False] * len(label["labels"])),
                    dtype=torch.bool,
                    device=device,
                ),
            }
            for label in labels
        ]

    def augment(
        self,
        inputs: torch.Tensor,
        targets: list[dict[str, torch.Tensor]],
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
        flip = torch.rand(len(inputs), generator=generator) < 0.5
        width = inputs.shape[-1]
        flipped = []
        for target, mirror in zip(targets, flip.tolist(), strict=True):
            if mirror:
                boxes = target["boxes"].clone()
                boxes[:, [0, 2]] = width - target["boxes"][:, [2, 0]]
                target = {**target, "boxes": boxes}
            flipped.append(target)
        mask = flip.to(inputs.device)[:, None, None, None]
        return torch.where(mask, inputs.flip(-1), inputs), flipped

    def per_sample_loss(
        self, output: SSDOutput, targets: Sequence[dict[str, torch.Tensor]]
    ) -> torch.Tensor:
        detector = output.detector
        cls_logits = output.cls_logits.float()
        bbox_regression = output.bbox_regression.float()
        box_losses, cls_targets, positives = [], [], []
        for i, target in enumerate(targets):
            anchors = output.anchors[i]
            boxes = resize_boxes(target["boxes"], output.original_sizes[i], output.image_sizes[i])
            if boxes.numel():
                matched = detector.proposal_matcher(box_iou(boxes, anchors))
            else:
                matched = torch.full((len(anchors),), -1, dtype=torch.int64, device=anchors.device)
            foreground = torch.where(matched >= 0)[0]
            encoded = detector.box_coder.encode_single(
                boxes[matched[foreground]], anchors[foreground]
            )
            box_losses.append(
                F.smooth_l1_loss(bbox_regression[i, foreground], encoded, reduction="sum")
            )
            classes = torch.zeros(len(anchors), dtype=torch.int64, device=anchors.device)
            classes[foreground] = target["labels"][matched[foreground]]
            cls_targets.append(classes)
            positives.append(foreground.numel())
        cls_target = torch.stack(cls_targets)
        cls_loss = F.cross_entropy(
            cls_logits.flatten(0, 1), cls_target.flatten(), reduction="none"
        ).view_as(cls_target)
        # Hard negatives, as torchvision mines them: per image the neg_to_pos_ratio x positives
        # background anchors with the highest classification loss.
        foreground_mask = cls_target > 0
        negative_loss = cls_loss.masked_fill(foreground_mask, -float("inf"))
        rank = negative_loss.sort(dim=1, descending=True)[1].sort(dim=1)[1]
        hard_negative = rank < detector.neg_to_pos_ratio * foreground_mask.sum(1, keepdim=True)
        classification = (cls_loss * (foreground_mask | hard_negative)).sum(dim=1)
        count = torch.tensor(positives, device=cls_loss.device).clamp_min(1)
        return (torch.stack(box_losses) + classification) / count

    @staticmethod
    @torch.no_grad()
    def detections(output: SSDOutput) -> list[dict[str, torch.Tensor]]:
        """SSD's own post-processing (score threshold, NMS, top detections), in pixels of the
        stored images."""
        detector = output.detector
        head = {
            "cls_logits": output.cls_logits.float(),
            "bbox_regression": output.bbox_regression.float(),
        }
        found = detector.postprocess_detections(head, output.anchors, output.image_sizes)
        return detector.transform.postprocess(found, output.image_sizes, output.original_sizes)

    def predict_labels(self, output: SSDOutput) -> list[dict[str, list]]:
        """Detections as labels: boxes in stored-image pixels, class labels from 1, scores."""
        return [
            {key: d[key].cpu().tolist() for key in ("boxes", "labels", "scores")}
            for d in self.detections(output)
        ]

    def metrics(
        self, outputs: Sequence[SSDOutput], targets: Sequence[Sequence[dict[str, torch.Tensor]]]
    ) -> dict[str, float]:
        from torchmetrics.detection import MeanAveragePrecision

        metric = MeanAveragePrecision(iou_thresholds=[0.5], class_metrics=True)
        for output, batch in zip(outputs, targets, strict=True):
            predicted = [{k: v.cpu() for k, v in d.items()} for d in self.detections(output)]
            truth = [
                {
                    "boxes": t["boxes"].cpu(),
                    "labels": t["labels"].cpu(),
                    "iscrowd": t["difficult"].cpu(),
                }
                for t in batch
            ]
            metric.update(predicted, truth)
        result = metric.compute()
        if float(result["map"]) < 0:  # torchmetrics' -1: no ground-truth box to match
            raise MetricError(
                "map50 cannot be computed: the evaluation set has no (non-difficult) "
                "ground-truth box; check its annotations"
            )
        scores = {"map50": float(result["map"])}
        classes = result["classes"].reshape(-1).tolist()
        per_class = result["map_per_class"].reshape(-1).tolist()
        for label, ap in zip(classes, per_class, strict=True):
            if ap >= 0:  # -1: a class with no (non-difficult) object in the evaluation set
                scores[f"ap50_{self.class_names[label - 1]}"] = float(ap)
        return scores

    def uncertainty(self, output: SSDOutput) -> torch.Tensor:
        probs = output.cls_logits.float().softmax(dim=-1)  # [B, A, classes + 1]
        foreground = probs[..., 1:].amax(dim=-1)
        top = foreground.topk(min(self.top, foreground.shape[1]), dim=1).indices
        chosen = probs.gather(1, top[..., None].expand(-1, -1, probs.shape[-1]))
        return entropy(chosen).mean(dim=1)
