"""``ll4al export``: the labeled data set in a form other tools read."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from pathlib import Path

from ll4al.data.dicom import split_frame
from ll4al.data.intensity import mapped_image, needs_mapping
from ll4al.files import atomic_path, write_json_atomic
from ll4al.project.labelstudio import annotated_export
from ll4al.project.project import Project, ProjectError

Log = Callable[[str], None]


EXPORT_FORMATS = ("imagefolder", "csv", "labelstudio", "voc")


def export(project: Project, fmt: str, out: Path, log: Log = print) -> Path:
    """The labeled data set (decided labels) in a form other tools read."""
    settings = project.settings
    if fmt not in EXPORT_FORMATS:
        raise ProjectError(f"unknown format {fmt!r}; choose from {', '.join(EXPORT_FORMATS)}")
    if fmt == "imagefolder" and settings.task != "classification":
        raise ProjectError("--format imagefolder is for classification; use voc or labelstudio")
    if fmt == "voc" and settings.task != "detection":
        raise ProjectError("--format voc is for detection; use imagefolder, csv or labelstudio")
    samples = {s.id: s for s in project.pool_samples()}
    decided = project.store.decided_labels()
    out = Path(out)
    if fmt == "csv":
        with atomic_path(out) as tmp, tmp.open("w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file, lineterminator="\n")
            writer.writerow(["path", "label"])
            for sample_id, value in decided.items():
                writer.writerow(
                    [sample_id, json.dumps(value) if isinstance(value, dict) else value]
                )
    elif fmt == "labelstudio":
        records = [
            {
                "id": row["sample"],
                "path": row["sample"],
                "value": json.loads(row["value"]),
                "annotator": row["annotator"],
                "seconds": row["seconds"],
                "width": samples[row["sample"]].width,
                "height": samples[row["sample"]].height,
            }
            for row in project.store.labels()
        ]
        write_json_atomic(out, annotated_export(records, settings.task))
    elif fmt == "imagefolder":
        for sample_id, value in decided.items():
            target = out / value / sample_id.replace("/", "__")
            target.parent.mkdir(parents=True, exist_ok=True)
            source = project.images_root / sample_id
            if split_frame(sample_id)[1] is not None or needs_mapping(source):
                # DICOM, 16-bit, float: the image as trained on and shown, never the file (tags)
                image = mapped_image(source, settings.intensity)
                image.save(target.parent / (target.name + ".png"))
            else:
                shutil.copy2(source, target)
    else:
        from ll4al.data.voc import write_annotation

        for sample_id, value in decided.items():
            s = samples[sample_id]
            write_annotation(
                out / "Annotations" / (Path(sample_id).stem + ".xml"),
                sample_id,
                s.width,
                s.height,
                value,
            )
    log(f"{len(decided)} labeled images exported as {fmt} to {out}")
    return out
