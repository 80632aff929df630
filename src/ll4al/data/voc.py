"""A PASCAL VOC reader: XML annotations, ``ImageSets/Main`` splits, JPEG images.

Images are decoded once and resized to one fixed size, boxes scaled with them, so a split is
one uint8 tensor like every other data set here (batches are slices). Why that loses nothing
for SSD: it warps every image to a fixed square anyway, and IoU, hence mAP, is unchanged by
scaling both axes of the boxes it compares.
"""

from __future__ import annotations

import warnings
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ll4al.data.arrays import ArrayDataset, TaskData
from ll4al.files import CorruptFileError, atomic_path

VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)  # fmt: skip
BCCD_CLASSES = ("RBC", "WBC", "Platelets")


class AnnotationWarning(UserWarning):
    """A box was out of the image or degenerate, and was clipped or dropped."""


def parse_annotation(path: Path, classes: Sequence[str]) -> dict[str, Any]:
    """One VOC XML file as ``{"size": (h, w), "boxes": [[x1, y1, x2, y2]], "labels": [...]}``.

    VOC boxes are 1-based inclusive pixel indices; they become continuous coordinates,
    ``x1 = xmin - 1, x2 = xmax``, clipped to the image. A degenerate box (``xmax <= xmin`` or
    ``ymax <= ymin``: a point, or corners swapped) or one with no area left after clipping is
    dropped. Either case warns with the file and the box, so a user sees what changed. Labels
    are 1 + the class's position in ``classes`` (0 is the detector's background).
    """
    try:
        root = ET.parse(path).getroot()
        width = float(root.findtext("size/width"))
        height = float(root.findtext("size/height"))
        objects = root.findall("object")
        raw = [
            (
                obj.findtext("name", "").strip(),
                [float(obj.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")],
                obj.findtext("difficult", "0").strip() == "1",
            )
            for obj in objects
        ]
    except (ET.ParseError, TypeError, ValueError) as err:
        raise CorruptFileError(f"{path}: not a valid VOC annotation ({err})") from err
    limits = (width, height, width, height)
    boxes, labels, difficult = [], [], []
    for name, (xmin, ymin, xmax, ymax), hard in raw:
        if name not in classes:
            raise CorruptFileError(
                f"{path}: unknown class {name!r}; expected one of {list(classes)}"
            )
        box = [xmin - 1, ymin - 1, xmax, ymax]
        clipped = [min(max(v, 0.0), limit) for v, limit in zip(box, limits, strict=True)]
        degenerate = xmax <= xmin or ymax <= ymin
        if degenerate or clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
            warnings.warn(
                f"{path.name}: dropped degenerate {name} box {[xmin, ymin, xmax, ymax]}",
                AnnotationWarning,
                stacklevel=2,
            )
            continue
        if clipped != box:
            warnings.warn(
                f"{path.name}: clipped {name} box {[xmin, ymin, xmax, ymax]} to the "
                f"{width:g}x{height:g} image",
                AnnotationWarning,
                stacklevel=2,
            )
        boxes.append(clipped)
        labels.append(classes.index(name) + 1)
        difficult.append(hard)
    return {"size": (height, width), "boxes": boxes, "labels": labels, "difficult": difficult}


def read_split(root: Path, split: str) -> list[str]:
    """The image ids listed in ``ImageSets/Main/<split>.txt``."""
    path = root / "ImageSets" / "Main" / f"{split}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"VOC split file {path} not found; is {root} a VOC directory?")
    ids = [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
    if not ids:
        raise CorruptFileError(f"{path} lists no images")
    return ids


def load_voc_split(
    root: Path, split: str, classes: Sequence[str], image_size: tuple[int, int]
) -> tuple[torch.Tensor, list[dict[str, Any]]]:
    """Images ``[N, 3, H, W]`` uint8 at ``image_size`` and their targets (boxes scaled to it)."""
    from PIL import Image

    height, width = image_size
    images, targets = [], []
    for image_id in read_split(root, split):
        annotation = parse_annotation(root / "Annotations" / f"{image_id}.xml", classes)
        with Image.open(root / "JPEGImages" / f"{image_id}.jpg") as image:
            if image.size != (annotation["size"][1], annotation["size"][0]):
                raise CorruptFileError(
                    f"{image_id}: image is {image.size[0]}x{image.size[1]} but its annotation "
                    f"says {annotation['size'][1]:g}x{annotation['size'][0]:g}"
                )
            resized = image.convert("RGB").resize((width, height), Image.BILINEAR)
            images.append(np.asarray(resized).transpose(2, 0, 1))
        sy, sx = height / annotation["size"][0], width / annotation["size"][1]
        boxes = [[x1 * sx, y1 * sy, x2 * sx, y2 * sy] for x1, y1, x2, y2 in annotation["boxes"]]
        targets.append(
            {"boxes": boxes, "labels": annotation["labels"], "difficult": annotation["difficult"]}
        )
    if not any(target["boxes"] for target in targets):
        raise CorruptFileError(
            f"VOC split {split!r} of {root} has no boxes at all (each was missing or "
            "degenerate): nothing to train on or to compute mAP with"
        )
    return torch.from_numpy(np.stack(images)), targets


def load_voc(
    root: str | Path,
    classes: Sequence[str],
    pool_split: str = "trainval",
    test_split: str = "test",
    image_size: tuple[int, int] = (320, 320),
) -> TaskData:
    """A VOC directory (``Annotations/``, ``JPEGImages/``, ``ImageSets/Main/``) as a pool and a
    test set. Pixel values are kept in [0, 1]: torchvision's detectors normalise themselves.
    A file that cannot be read raises ``CorruptFileError`` naming it (the CLI prints it in
    one line)."""
    root = Path(root).expanduser()
    if not (root / "Annotations").is_dir():
        raise FileNotFoundError(f"{root} has no Annotations/ folder: not a VOC directory")
    parts = [load_voc_split(root, split, classes, image_size) for split in (pool_split, test_split)]
    (train_images, train_targets), (test_images, test_targets) = parts
    no_norm = ((0.0,) * 3, (1.0,) * 3)
    return TaskData(
        train=ArrayDataset(train_images, _object_array(train_targets), *no_norm),
        test=ArrayDataset(test_images, _object_array(test_targets), *no_norm),
        num_outputs=len(classes),
        in_channels=3,
    )


def _object_array(targets: list[dict[str, Any]]) -> np.ndarray:
    """One object per image: ``np.asarray`` would try to broadcast the dicts' lists."""
    array = np.empty(len(targets), dtype=object)
    array[:] = targets
    return array


def write_annotation(
    path: Path, filename: str, width: int, height: int, value: dict[str, list]
) -> None:
    """One VOC XML file for an image's boxes ``{"boxes": [[x1, y1, x2, y2]], "labels":
    [names]}`` in continuous pixel coordinates; the inverse of ``parse_annotation``'s
    conversion (``xmin = x1 + 1``, ``xmax = x2``, rounded to whole pixels as VOC stores them)."""
    root = ET.Element("annotation")
    ET.SubElement(root, "filename").text = filename
    size = ET.SubElement(root, "size")
    for key, number in (("width", width), ("height", height), ("depth", 3)):
        ET.SubElement(size, key).text = str(number)
    for (x1, y1, x2, y2), name in zip(value["boxes"], value["labels"], strict=True):
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = name
        ET.SubElement(obj, "difficult").text = "0"
        box = ET.SubElement(obj, "bndbox")
        corners = (round(x1) + 1, round(y1) + 1, round(x2), round(y2))
        for key, number in zip(("xmin", "ymin", "xmax", "ymax"), corners, strict=True):
            ET.SubElement(box, key).text = str(number)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        ET.ElementTree(root).write(tmp, encoding="unicode")
