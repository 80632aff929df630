"""A labeling project on disk: its folder, settings, database, images and model rounds.

Layout of ``PROJECT/``: ``project.yaml`` (settings), ``project.sqlite`` (samples, labels,
batches, rounds), ``batches/batch-NNN.csv`` and ``batch-NNN-labelstudio.json`` (what to
label), ``models/round-NNN.pt`` (each round's weights). Commands hold ``.lock`` while they
work, so two of them never interleave on one project.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ll4al.files import file_lock
from ll4al.project.settings import SETTINGS_FILE, ProjectSettings, resolve_strategy
from ll4al.project.store import Sample, Store
from ll4al.project.training import round_train_settings
from ll4al.tasks.labels import LABEL_KINDS

if TYPE_CHECKING:  # the torch stack loads where a model is needed, not for status or import
    from ll4al.al.pool import Pool
    from ll4al.al.session import LearnerRecipe, Session
    from ll4al.config import ModelSettings
    from ll4al.data.arrays import ArrayDataset
    from ll4al.models.learner import PoolData
    from ll4al.tasks import TaskAdapter


class ProjectError(ValueError):
    """A project command that cannot be done as asked; nothing was written."""


def _check_labels_fit(folder: Path, settings: ProjectSettings, store: Store) -> None:
    """The stored labels are of the project's task and name only its classes: a class
    removed from project.yaml, or the task changed, after labeling is an error naming it."""
    values = [json.loads(v) for (v,) in store.db.execute("SELECT DISTINCT value FROM labels")]
    boxes = settings.task == "detection"
    names: set[str] = set()
    for value in values:
        if boxes != isinstance(value, dict):
            raise ProjectError(
                f"{folder / SETTINGS_FILE}: task is {settings.task}, but the database holds "
                f"{'class' if boxes else 'box'} labels; put the task back"
            )
        names.update(value.get("labels", []) if boxes else [value])
    unknown = sorted(map(str, names - set(settings.classes)))
    if unknown:
        raise ProjectError(
            f"{folder / SETTINGS_FILE}: classes lack {unknown}, which stored labels use; put "
            "them back (a class cannot be removed once it has labels)"
        )


class Project:
    """An open labeling project."""

    def __init__(self, folder: Path, settings: ProjectSettings, store: Store) -> None:
        self.folder = Path(folder)
        self.settings = settings
        self.store = store
        # the project's metric (None: the task's own), known without importing the task
        self.labels = LABEL_KINDS[settings.task](settings.classes).with_metric(settings.metric)

    @cached_property
    def task(self) -> TaskAdapter:
        return self.labels.task()

    @classmethod
    def open(cls, folder: str | Path, check: bool = True) -> Project:
        """The project in ``folder``; ``check`` verifies its database (``Store``): a server
        checks once when it starts, not on every request."""
        folder = Path(folder)
        if not (folder / SETTINGS_FILE).is_file():
            raise ProjectError(
                f"{folder} is not an ll4al project (no {SETTINGS_FILE}); "
                "create one with `ll4al init`"
            )
        settings = ProjectSettings.load(folder)
        store = Store(folder, check=check)
        try:
            _check_labels_fit(folder, settings, store)
        except ProjectError:
            store.close()
            raise
        return cls(folder, settings, store)

    def close(self) -> None:
        self.store.close()

    @contextmanager
    def lock(self, is_main: bool = True) -> Iterator[None]:
        """Exclusive use of the project for one command (released if the process dies).
        Under torchrun rank 0 holds it for the job: the others pass ``is_main=False``."""
        if not is_main:
            yield
            return
        with file_lock(self.folder / ".lock", wait=False) as obtained:
            if not obtained:
                raise ProjectError(
                    f"another ll4al command is working on {self.folder}; wait for it to finish"
                )
            yield

    @property
    def images_root(self) -> Path:
        return Path(self.settings.images)

    # --- the pool as the active-learning core sees it -----------------------------------------

    def pool_samples(self) -> list[Sample]:
        return self.store.samples()

    def pool_data(self, progress: bool = True) -> ArrayDataset:
        """The pool's pixels, resized, normalised by the pool's own channel statistics (as
        the ``imagefolder`` data set does, so both paths train on the same inputs)."""
        from ll4al.data.arrays import ArrayDataset
        from ll4al.data.imagefolder import channel_stats, decode_images

        s = self.settings
        paths = [sample.id for sample in self.pool_samples()]
        images = decode_images(
            self.images_root, paths, s.image_size, s.channels, progress, s.intensity
        )
        mean, std = channel_stats(images)
        return ArrayDataset(images, None, mean, std)

    def evaluation_data(
        self, pool_data: ArrayDataset, progress: bool = True
    ) -> tuple[ArrayDataset, list[Any]] | None:
        """The labeled evaluation folder, normalised like the pool, with its targets."""
        if not self.settings.evaluation:
            return None
        from ll4al.data.imagefolder import class_folders, decode_images

        root = Path(self.settings.evaluation)
        paths, names = class_folders(root)
        unknown = sorted(set(names) - set(self.settings.classes))
        if unknown:
            raise ProjectError(f"evaluation folder {root} has unknown classes {unknown}")
        s = self.settings
        images = decode_images(root, paths, s.image_size, s.channels, progress, s.intensity)
        return pool_data.with_images(images), [self.settings.classes.index(n) for n in names]

    def training_pool(self) -> Pool:
        """The decided labels as a ``Pool``, in the order the benchmark would have added them:
        labels given outside any batch first (pool order), then batch by batch, in each batch's
        rank order."""
        from ll4al.al.pool import Pool

        samples = {s.id: s for s in self.pool_samples()}
        decided = self.store.decided_labels()
        size = self.settings.image_size
        order = [s.id for s in samples.values() if s.id in decided]
        in_batches = [row["sample"] for row in self.store.batch_items()]
        listed = set(in_batches)
        order = [i for i in order if i not in listed] + [i for i in in_batches if i in decided]
        pool = Pool(len(samples))
        pool.add_labels(
            [samples[i].pool_index for i in order],
            [
                self.labels.to_target(decided[i], samples[i].width, samples[i].height, size)
                for i in order
            ],
        )
        return pool

    def encoder_path(self) -> Path:
        """Where ``ll4al pretrain PROJECT`` writes the project's encoder."""
        return self.folder / "encoder" / "encoder.pt"

    def model_settings(self) -> ModelSettings:
        """The model settings a round uses: the project's, with its own encoder as the start
        (unless ``model.weights`` names another) and ``model.mode: auto`` resolved: frozen
        where there is an encoder, else fine-tuned from random weights."""
        model = self.settings.model
        weights = model.weights
        if weights is None and self.encoder_path().is_file():
            weights = str(self.encoder_path())
        mode = model.mode
        if mode == "auto":
            mode = "frozen" if weights is not None else "finetune"
        if mode == "frozen" and weights is None:
            raise ProjectError(
                f"model.mode is frozen but {self.folder} has no encoder: run `ll4al pretrain "
                f"{self.folder}` first, or set model.mode to finetune"
            )
        return replace(model, weights=weights, mode=mode)

    def round_strategy(self, strategy: str | None = None) -> str:
        """The strategy of the next round: ``strategy`` (``query --strategy``) or the
        project's, with ``auto`` resolved for how the round trains (``resolve_strategy``)."""
        chosen = strategy or self.settings.strategy
        frozen = self.model_settings().mode == "frozen"
        return resolve_strategy(chosen, self.settings.task, frozen)

    def first_batch_rule(self) -> str:
        """``active.first``, with ``auto`` resolved: typical where there is an encoder."""
        rule = self.settings.active.first
        if rule == "auto":
            return "typical" if self.model_settings().weights is not None else "random"
        return rule

    def recipe(self, pool_data: ArrayDataset) -> LearnerRecipe:
        from ll4al.al.session import LearnerRecipe
        from ll4al.distributed import device_for
        from ll4al.runtime import select_device

        s = self.settings
        return LearnerRecipe.for_pool(
            self.model_settings(),
            self.task,
            pool_data,
            num_outputs=len(s.classes),
            in_channels=s.channels,
            device=device_for(select_device(s.device)),  # under torchrun: this rank's GPU
            precision=s.precision,
            eval_batch_size=s.eval_batch_size,
        )

    def session(
        self, pool_data: ArrayDataset, strategy: str, progress: bool, labeled: int
    ) -> tuple[Session, tuple[PoolData, list[Any]] | None]:
        """The session of a round on ``labeled`` labels, and the evaluation set (data and
        labels) where there is one: on the images, or in a frozen round on the cached
        embeddings of both. The round trains as ``round_train_settings`` says for ``labeled``
        labels (a frozen round's head too, less the image augmentation)."""
        from ll4al.al.checks import check_strategies
        from ll4al.al.session import Session
        from ll4al.encoders.frozen import Images, round_inputs
        from ll4al.strategies import get_strategy

        s = self.settings
        check_strategies([strategy], self.task, f"a {s.task} project")  # query --strategy too
        chosen = get_strategy(strategy)
        evaluation = self.evaluation_data(pool_data, progress)
        inputs = round_inputs(
            self.recipe(pool_data),
            round_train_settings(s, labeled),
            Images(pool_data, pool_data.content_digest()),
            None if evaluation is None else Images(evaluation[0], evaluation[0].content_digest()),
            need_embeddings=self.first_batch_rule() == "typical",
            cache=self.folder / "cache",
            progress=progress,
        )
        session = Session(
            inputs.recipe,
            inputs.pool,
            chosen,
            s.seed,
            inputs.train,
            progress,
            embeddings=inputs.embeddings,
        )
        if evaluation is None:
            return session, None
        return session, (inputs.evaluation, evaluation[1])

    # --- model rounds ---------------------------------------------------------------------------

    def labels_digest(self, pool: Pool, with_lpm: bool) -> str:
        """What a round's weights depend on: the labels in order, the LPM, the settings."""
        settings = self.settings.to_dict()
        model = settings["model"]
        for key, default in (("mode", "finetune"), ("head_width", 1.0)):
            if model.get(key) == default:  # added later: digests of older rounds still match
                del model[key]
        parts = [
            pool.labeled.tolist(),
            pool.labels_of(pool.labeled),
            with_lpm,
            model,
            asdict(round_train_settings(self.settings, len(pool.labeled))),
            settings["seed"],
        ]
        encoder = self._encoder_checksum()
        if encoder is not None:
            parts.append(encoder)
        blob = json.dumps(parts, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()

    def _encoder_checksum(self) -> str | None:
        """The bytes a round starts from, so a new encoder trains new rounds (None: none;
        left out of the digest then, so rounds saved before encoders existed stay valid)."""
        from ll4al.encoders.cache import weights_checksum

        weights = self.model_settings().weights
        return None if weights is None else weights_checksum(weights)

    def weights_path(self, round_index: int, with_lpm: bool) -> Path:
        return self.folder / "models" / f"round-{round_index:03d}{'-lpm' if with_lpm else ''}.pt"
