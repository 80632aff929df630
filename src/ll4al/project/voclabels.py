"""Boxes from PASCAL VOC XML files, the format most detection tools export."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from ll4al.data.voc import parse_annotation
from ll4al.files import CorruptFileError
from ll4al.project.formats import LabelFileError, LabelRecord


def read_voc(path: Path, classes: Sequence[str]) -> list[LabelRecord]:
    """One record per XML file: ``path`` is a file, or a folder searched recursively.

    The key is the XML's ``<filename>`` (an image name, matched to the project's images by
    path, else by a unique file name), else the XML's own name with the image's suffix
    unknown. Boxes become continuous pixel coordinates as ``parse_annotation`` reads them
    (degenerate ones dropped with a warning); an unknown class is an error naming the file.
    """
    path = Path(path)
    files = [path] if path.is_file() else sorted(path.rglob("*.xml"))
    if not files:
        raise LabelFileError(f"{path}: no VOC .xml files found")
    records = []
    for file in files:
        try:
            root = ET.parse(file).getroot()
            if (root.findtext("owner/name") or "").strip() == "Label Studio":
                records.append(_label_studio_voc(file, root, classes))
                continue
            parsed = parse_annotation(file, classes)
            filename = (root.findtext("filename") or "").strip()
        except (CorruptFileError, ET.ParseError, OSError) as err:
            raise LabelFileError(str(err).splitlines()[0]) from None
        value = {
            "boxes": parsed["boxes"],
            "labels": [classes[label - 1] for label in parsed["labels"]],
        }
        records.append(LabelRecord(filename or file.stem, value, "", None, f"file {file.name}"))
    return records


#: Label Studio's VOC export names each image ``<8 hex digits>__<its name>``.
_LABEL_STUDIO_PREFIX = re.compile(r"^[0-9a-f]{8}__(?=.)")


def _label_studio_voc(file: Path, root: ET.Element, classes: Sequence[str]) -> LabelRecord:
    """A file of Label Studio's VOC export (``<owner><name>Label Studio``), read as it is
    written: the file name's prefix dropped, and its boxes taken as 0-based pixel edges
    (``xmin = int(x1)``, ``xmax = xmin + int(width)``), not VOC's 1-based inclusive pixels,
    so no pixel is shifted; the truncation to whole pixels stays (its JSON export is exact).
    A box past the image's edge is refused, as in its JSON export."""
    where = f"file {file.name}"
    try:
        width = float(root.findtext("size/width") or "")
        height = float(root.findtext("size/height") or "")
        boxes, labels = [], []
        for number, obj in enumerate(root.findall("object"), 1):
            name = (obj.findtext("name") or "").strip()
            box = [
                float(obj.findtext(f"bndbox/{k}") or "") for k in ("xmin", "ymin", "xmax", "ymax")
            ]
            if name not in classes:
                message = (
                    f"{file}: object {number}: unknown class {name!r}; "
                    f"expected one of {list(classes)}"
                )
                raise LabelFileError(message)
            if (
                min(box) < 0
                or box[2] > width
                or box[3] > height
                or box[2] <= box[0]
                or box[3] <= box[1]
            ):
                message = (
                    f"{file}: object {number}: box {box} is not inside the "
                    f"{width:g}x{height:g} image"
                )
                raise LabelFileError(message)
            boxes.append(box)
            labels.append(name)
    except ValueError as err:
        raise LabelFileError(f"{file}: not a valid VOC annotation ({err})") from None
    filename = _LABEL_STUDIO_PREFIX.sub("", (root.findtext("filename") or "").strip())
    annotator = (root.findtext("source/annotator") or "").strip()
    value = {"boxes": boxes, "labels": labels}
    return LabelRecord(filename or file.stem, value, annotator, None, where)
