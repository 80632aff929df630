"""``ll4al export``: the labeled data set in a form other tools read."""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ll4al.data.dicom import split_frame
from ll4al.data.intensity import mapped_image, needs_mapping
from ll4al.files import atomic_path, write_json_atomic
from ll4al.project.integrity import check_images, require_unchanged
from ll4al.project.labelstudio import annotated_export
from ll4al.project.project import Project, ProjectError

Log = Callable[[str], None]


EXPORT_FORMATS = ("imagefolder", "csv", "labelstudio", "voc")
#: The file that marks a folder as an ll4al export, which the next export may replace.
EXPORT_MARK = ".ll4al-export"


def export(project: Project, fmt: str, out: Path, log: Log = print) -> Path:
    """The labeled data set (decided labels) in a form other tools read.

    Refused while a registered image was replaced (its label may describe other pixels). A
    file is written atomically; a folder (``imagefolder``, ``voc``) is built beside ``out``
    and swapped in whole once complete, so a failed export leaves nothing and a repeated one
    leaves no stale copy; a folder that is not an earlier ll4al export is never replaced."""
    settings = project.settings
    if fmt not in EXPORT_FORMATS:
        raise ProjectError(f"unknown format {fmt!r}; choose from {', '.join(EXPORT_FORMATS)}")
    if fmt == "imagefolder" and settings.task != "classification":
        raise ProjectError("--format imagefolder is for classification; use voc or labelstudio")
    if fmt == "voc" and settings.task != "detection":
        raise ProjectError("--format voc is for detection; use imagefolder, csv or labelstudio")
    require_unchanged(project, check_images(project), "export", pixels=fmt == "imagefolder")
    samples = {s.id: s for s in project.pool_samples()}
    decided = project.store.decided_labels()
    out = Path(out)
    try:
        if fmt == "csv":
            _write_csv(out, decided)
        elif fmt == "labelstudio":
            _write_labelstudio(project, out, samples)
        else:
            with fresh_folder(out) as folder:
                if fmt == "imagefolder":
                    _write_imagefolder(project, folder, decided)
                else:
                    _write_voc(folder, decided, samples)
    except OSError as err:  # the export's own path, never its temporary file's
        raise ProjectError(
            f"cannot write the export to {out}: {err.strerror or err}; nothing was written"
        ) from None
    log(f"{len(decided)} labeled images exported as {fmt} to {out}")
    return out


def _write_csv(out: Path, decided: dict[str, Any]) -> None:
    with atomic_path(out) as tmp, tmp.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(["path", "label"])
        for sample_id, value in decided.items():
            writer.writerow([sample_id, json.dumps(value) if isinstance(value, dict) else value])


def _write_labelstudio(project: Project, out: Path, samples: dict[str, Any]) -> None:
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
    write_json_atomic(out, annotated_export(records, project.settings.task))


def _write_imagefolder(project: Project, folder: Path, decided: dict[str, Any]) -> None:
    """``folder/<class>/<image>``; an image's name is its path with ``/`` as ``__``."""
    root = project.images_root
    by_class: dict[str, list[str]] = {}
    for sample_id, value in decided.items():
        by_class.setdefault(value, []).append(sample_id)
    for name, ids in by_class.items():
        (folder / name).mkdir()
        # DICOM, 16-bit, float: the image as trained on and shown (a PNG), never the file (tags)
        mapped = {i: split_frame(i)[1] is not None or needs_mapping(root / i) for i in ids}
        flat = {i: i.replace("/", "__") + (".png" if mapped[i] else "") for i in ids}
        names = unique_names(ids, flat.__getitem__)
        for sample_id, file_name in names.items():
            target = folder / name / file_name
            if mapped[sample_id]:
                mapped_image(root / sample_id, project.settings.intensity).save(target)
            else:
                shutil.copy2(root / sample_id, target)


def _write_voc(folder: Path, decided: dict[str, Any], samples: dict[str, Any]) -> None:
    """``folder/Annotations/<name>.xml``, one per image: the image's stem where no other
    exported image has it, else its path (``/`` as ``__``, suffix kept); the XML's
    ``<filename>`` is the image's path, which ``ll4al import`` matches."""
    from ll4al.data.voc import write_annotation

    stems = Counter(Path(i).stem for i in decided)

    def xml_name(sample_id: str) -> str:
        stem = Path(sample_id).stem
        return (stem if stems[stem] == 1 else sample_id.replace("/", "__")) + ".xml"

    for sample_id, file_name in unique_names(list(decided), xml_name).items():
        s = samples[sample_id]
        value = decided[sample_id]
        write_annotation(folder / "Annotations" / file_name, sample_id, s.width, s.height, value)


def unique_names(ids: list[str], name_of: Callable[[str], str]) -> dict[str, str]:
    """``name_of(id)`` for each id, made unique (``name-2.ext``, ...) where two ids would
    share one, case-insensitively (so the export survives a macOS or Windows disk)."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for sample_id in sorted(ids):
        name = name_of(sample_id)
        path, n = Path(name), 1
        while name.lower() in taken:
            n += 1
            name = f"{path.stem}-{n}{path.suffix}"
        taken.add(name.lower())
        names[sample_id] = name
    return names


@contextmanager
def fresh_folder(out: Path) -> Iterator[Path]:
    """A new folder beside ``out`` to write an export into; swapped in for ``out`` once the
    block succeeds (an earlier export there is removed), removed if it fails. ``out`` may
    be missing, empty, or an earlier ll4al export (it has ``EXPORT_MARK``), nothing else."""
    if out.exists() or out.is_symlink():
        if not out.is_dir() or out.is_symlink():
            raise ProjectError(f"--out {out} exists and is not a folder; give a folder")
        if any(out.iterdir()) and not (out / EXPORT_MARK).is_file():
            raise ProjectError(
                f"--out {out} is a folder with other files in it, not an ll4al export; "
                "give a new or empty folder (ll4al replaces only its own exports)"
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        yield tmp
        (tmp / EXPORT_MARK).write_text("written by ll4al export; replaced by the next one\n")
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, old / "export")
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
