"""Keypoints as heatmaps, the stacked-hourglass way."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ll4al.tasks.base import TaskAdapter


class KeypointTask(TaskAdapter):
    """Keypoints as heatmaps, the stacked-hourglass way (Newell et al. 2016).

    Labels are ``[K, 2]`` keypoints as (x, y) in pixels of the input image, pixel centres at
    integers. The model returns heatmaps ``[B, S, K, h, w]`` (S stacks, one map per keypoint)
    at a stride of ``image_size / (h, w)``; a heatmap pixel stands for the block of image
    pixels it covers, so heatmap pixel ``u`` is image position ``stride * u + (stride - 1) / 2``
    (the mapping that commutes with a horizontal flip).

    - target: a Gaussian of ``sigma`` heatmap pixels (1.0: 2 image pixels at stride 2) centred
      on the keypoint's exact, sub-pixel heatmap position, peak 1;
    - loss per image: the mean squared error of predicted against target heatmaps over the
      image's keypoints and pixels, summed over the stacks (intermediate supervision);
    - prediction: the argmax of the last stack's heatmap, mapped back to image pixels;
    - metrics: ``pck``, the share of keypoints predicted within ``pck_fraction`` (0.1) x the
      face's keypoint span of the true point, where the span is the larger of the x-range and
      the y-range of that face's true keypoints (a point exactly at the threshold counts as
      correct), and ``mean_pixel_error``, the mean Euclidean distance in image pixels;
    - augmentation ``flip``: each image mirrored left-right with probability 1/2, x -> width -
      1 - x, with the ``flip_pairs`` (left, right) keypoints swapped: a left eye stays a left
      eye.
    """

    metric_name = "pck"
    augmentation = "flip"

    def __init__(
        self,
        flip_pairs: Sequence[tuple[int, int]],
        image_size: tuple[int, int],
        num_keypoints: int,
        sigma: float = 1.0,
        pck_fraction: float = 0.1,
    ) -> None:
        flat = [i for pair in flip_pairs for i in pair]
        if len(set(flat)) != len(flat) or not all(0 <= i < num_keypoints for i in flat):
            raise ValueError(
                f"flip_pairs must be disjoint pairs of keypoint indices in [0, {num_keypoints})"
            )
        self.flip_order = list(range(num_keypoints))
        for left, right in flip_pairs:
            self.flip_order[left], self.flip_order[right] = right, left
        self.image_size = image_size
        self.num_keypoints = num_keypoints
        self.sigma = sigma
        self.pck_fraction = pck_fraction

    def collate_targets(self, labels: Sequence[Any], device: torch.device) -> torch.Tensor:
        return torch.as_tensor(labels, dtype=torch.float32, device=device)

    def augment(
        self, inputs: torch.Tensor, targets: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        flip = torch.rand(len(inputs), generator=generator) < 0.5
        mirrored = targets[:, self.flip_order].clone()
        mirrored[..., 0] = inputs.shape[-1] - 1 - mirrored[..., 0]
        flip_inputs = flip.to(inputs.device)[:, None, None, None]
        flip_targets = flip.to(targets.device)[:, None, None]
        return (
            torch.where(flip_inputs, inputs.flip(-1), inputs),
            torch.where(flip_targets, mirrored, targets),
        )

    def _strides(self, heatmap_size: Sequence[int]) -> torch.Tensor:
        """Image pixels per heatmap pixel, ``[x, y]``."""
        (h, w), (height, width) = heatmap_size, self.image_size
        return torch.tensor([width / w, height / h])

    def heatmaps(self, keypoints: torch.Tensor, heatmap_size: Sequence[int]) -> torch.Tensor:
        """Target heatmaps ``[B, K, h, w]`` for keypoints ``[B, K, 2]`` in image pixels."""
        h, w = heatmap_size
        stride = self._strides(heatmap_size).to(keypoints.device)
        centre = (keypoints.float() - (stride - 1) / 2) / stride  # in heatmap pixels
        cols = torch.arange(w, device=keypoints.device, dtype=torch.float32)
        rows = torch.arange(h, device=keypoints.device, dtype=torch.float32)
        dx = (cols - centre[..., 0, None]) ** 2  # [B, K, w]
        dy = (rows - centre[..., 1, None]) ** 2  # [B, K, h]
        return torch.exp(-(dy[..., :, None] + dx[..., None, :]) / (2 * self.sigma**2))

    def _check(self, output: torch.Tensor) -> None:
        if output.dim() != 5 or output.shape[2] != self.num_keypoints:
            raise ValueError(
                f"expected heatmaps [B, stacks, {self.num_keypoints}, H, W] from the model, "
                f"got shape {tuple(output.shape)}"
            )

    def per_sample_loss(self, output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        self._check(output)
        target = self.heatmaps(targets, output.shape[-2:])
        return ((output.float() - target[:, None]) ** 2).mean(dim=(2, 3, 4)).sum(dim=1)

    def predict(self, output: torch.Tensor) -> torch.Tensor:
        """Keypoints ``[B, K, 2]`` in image pixels from the last stack's heatmap maxima."""
        self._check(output)
        last = output[:, -1].float()
        h, w = last.shape[-2:]
        flat = last.flatten(2).argmax(dim=2)
        cells = torch.stack([flat % w, flat // w], dim=-1).float()  # (u, v)
        stride = self._strides((h, w)).to(cells.device)
        return cells * stride + (stride - 1) / 2

    def predict_labels(self, output: torch.Tensor) -> list[list[list[float]]]:
        return self.predict(output).cpu().tolist()

    def metrics(
        self, outputs: Sequence[torch.Tensor], targets: Sequence[torch.Tensor]
    ) -> dict[str, float]:
        predicted = torch.cat([self.predict(o).cpu() for o in outputs])
        true = torch.cat([t.float().cpu() for t in targets])
        error = (predicted - true).norm(dim=2)  # [N, K]
        span = (true.amax(dim=1) - true.amin(dim=1)).amax(dim=1)  # [N]
        correct = error <= self.pck_fraction * span[:, None]
        return {"pck": float(correct.float().mean()), "mean_pixel_error": float(error.mean())}
