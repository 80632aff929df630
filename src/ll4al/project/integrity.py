"""Are the registered images still the pixels they were registered (and labeled) as?

Each sample's sha256 is stored at registration. A file replaced afterwards (other pixels
copied over a labeled image) would silently put the new pixels under the old label, in
training and in every export; so ``status`` reports such files, and ``query`` and ``export``
refuse to work until the user puts the originals back or registers the new pixels with
``ll4al add --accept-changed`` (which sets the old labels aside, kept in the database).

Checking is cheap: a file whose size, modification and change times and inode are those
recorded when its checksum last matched is taken as unchanged; only the others are hashed
again. (``ctime`` cannot be set by a user, so a copy that keeps the old ``mtime`` is hashed.)
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field

from ll4al.data.dicom import split_frame
from ll4al.files import file_checksum
from ll4al.project.project import Project, ProjectError

Stat = tuple[int, int, int, int]


def file_stat(path: str | os.PathLike) -> Stat:
    """What ``check_images`` compares first: size, mtime, ctime (ns) and inode."""
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


@dataclass
class ImageCheck:
    """Files under the image root that differ from their registration."""

    replaced: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    #: files hashed again and found unchanged, with their new stat (``remember`` stores it)
    verified: list[tuple[str, Stat]] = field(default_factory=list)


def check_images(project: Project) -> ImageCheck:
    """Every pool file's stat against the recorded one; a changed stat means hashing it."""
    root = project.images_root
    known = project.store.file_stats()
    checksums = {split_frame(s.id)[0]: s.checksum for s in project.pool_samples()}
    result = ImageCheck()
    for file, checksum in checksums.items():
        path = root / file
        try:
            stat = file_stat(path)
            if known.get(file) == stat:
                continue
            same = file_checksum(path) == checksum  # stat first: a later change is seen later
        except OSError:
            result.missing.append(file)
            continue
        if same:
            result.verified.append((file, stat))
        else:
            result.replaced.append(file)
    return result


def remember(project: Project, check: ImageCheck, wait: bool = True) -> None:
    """Store the stats of files found unchanged, so the next check does not hash them.
    ``wait=False`` (``status``, which holds no project lock): skipped, not waited for, while
    another command writes; the stats are only a cache."""
    if not check.verified:
        return
    store = project.store
    if wait:
        with store.transaction() as db:
            store.record_file_stats(db, check.verified)
        return
    store.db.execute("PRAGMA busy_timeout = 0")
    try:
        with store.transaction() as db:
            store.record_file_stats(db, check.verified)
    except sqlite3.OperationalError:  # locked by a writer: the next status hashes again
        pass
    finally:
        store.db.execute("PRAGMA busy_timeout = 5000")


def named(files: list[str], shown: int = 3) -> str:
    """A few file names for a one-line message, and how many more."""
    more = f" and {len(files) - shown} more" if len(files) > shown else ""
    return ", ".join(files[:shown]) + more


def require_unchanged(project: Project, check: ImageCheck, command: str, pixels: bool) -> None:
    """Refuse ``command`` while a registered image was replaced (or, where it reads the
    pixels, is missing), saying which and what to do; the labels stay as they are."""
    if check.replaced:
        raise ProjectError(
            f"{len(check.replaced)} images under {project.images_root} were replaced after "
            f"they were registered ({named(check.replaced)}), so their labels may describe "
            f"other pixels; {command} needs them settled: put the original files back, or "
            f"run `ll4al add {project.folder} --accept-changed` to register the new pixels "
            "(their labels are set aside, kept in the database, and they are to be labeled "
            "again)"
        )
    if pixels and check.missing:
        raise ProjectError(
            f"{len(check.missing)} registered images are missing from {project.images_root} "
            f"({named(check.missing)}); {command} reads every image: put them back"
        )
