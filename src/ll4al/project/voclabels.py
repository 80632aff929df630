"""Boxes from PASCAL VOC XML files, the format most detection tools export."""

from __future__ import annotations

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
            parsed = parse_annotation(file, classes)
            filename = (ET.parse(file).getroot().findtext("filename") or "").strip()
        except (CorruptFileError, ET.ParseError, OSError) as err:
            raise LabelFileError(str(err).splitlines()[0]) from None
        value = {
            "boxes": parsed["boxes"],
            "labels": [classes[label - 1] for label in parsed["labels"]],
        }
        records.append(LabelRecord(filename or file.stem, value, "", None, f"file {file.name}"))
    return records
