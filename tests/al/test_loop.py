import json

import pytest
import torch

from ll4al.al.pool import Pool, PoolError, SimulatedOracle
from ll4al.al.seeds import candidate_subset, initial_indices
from ll4al.al.simulation import ActiveLearningRun, CycleError
from ll4al.files import CorruptFileError
from ll4al.tasks import ClassificationTask

from ..conftest import make_images
from ..hardening import without_timings
from ..helpers import tiny_recipe, tiny_spec


def make_run(run_dir, spec, task=None, written=None):
    """A simulated run on 80 tiny pool images (4 classes) with 24 test images; its records
    are appended to ``written``, which is also where it reads its earlier ones."""
    pool_data, test_data = make_images(n=80, seed=0), make_images(n=24, seed=1)
    written = written if written is not None else []
    return ActiveLearningRun(
        run_dir,
        spec,
        tiny_recipe(pool_data, task),
        pool_data,
        SimulatedOracle(pool_data.targets),
        test_data,
        test_data.targets.tolist(),
        written.append,
        progress=False,
        read_records=lambda: written,
    )


def test_a_run_labels_k_per_cycle_and_records_metrics(tmp_path):
    written = []
    run = make_run(tmp_path, tiny_spec(cycles=3), written=written)
    records = run.run()
    assert records == written  # each record written, once
    assert [r["labeled"] for r in records] == [10, 18, 26]
    assert [r["cycle"] for r in records] == [1, 2, 3]
    assert all(0 <= r["accuracy"] <= 1 and 0 <= r["ranking_accuracy"] <= 1 for r in records)
    assert len(run.pool.labeled) == 26  # the last cycle evaluates and does not query
    saved = json.loads((tmp_path / "state.json").read_text())
    assert saved["next_cycle"] == 3 and len(saved["pool"]["labeled"]) == 26
    assert "records" not in saved  # they are in the writer's file, not the state


def test_a_stop_rule_is_recorded_and_changes_nothing_else(tmp_path):
    """``ll4al run`` with ``stop:`` records where the rule would have stopped: each record
    says whether it is met (from the third round: the power law's), and the run goes on."""
    from dataclasses import replace

    from ll4al.config import StopSettings

    plain = make_run(tmp_path / "plain", tiny_spec(cycles=4)).run()
    rule = StopSettings(min_gain_per_100=1e6, patience=1)  # any forecast is under it
    ruled = make_run(tmp_path / "ruled", replace(tiny_spec(cycles=4), stop=rule)).run()
    assert [r["stop_rule_met"] for r in ruled] == [False, False, True, True]
    assert all("stop_rule_met" not in r for r in plain)
    assert [
        {k: v for k, v in r.items() if "seconds" not in k and k != "stop_rule_met"} for r in ruled
    ] == [{k: v for k, v in r.items() if "seconds" not in k} for r in plain]


def test_a_resumed_run_checks_its_stop_rule_on_the_whole_curve(tmp_path):
    """The earlier cycles' records are not in the state: a resumed run reads them back (from
    the results, here ``written``) and marks the rule where the whole run does. Records it
    cannot read back are an error, not a shorter curve."""
    from dataclasses import replace

    from ll4al.config import StopSettings

    spec = replace(tiny_spec(cycles=4), stop=StopSettings(min_gain_per_100=1e6, patience=2))
    whole = make_run(tmp_path / "whole", spec).run()
    written = []
    first = make_run(tmp_path / "cut", spec, written=written)
    first.run_cycle(0)
    first.run_cycle(1)
    make_run(tmp_path / "cut", spec, written=written).run()
    assert [r["stop_rule_met"] for r in written] == [r["stop_rule_met"] for r in whole]
    assert [r["stop_rule_met"] for r in whole] == [False, False, False, True]

    lost = make_run(tmp_path / "lost", spec)
    lost.run_cycle(0)
    lost.run_cycle(1)
    with pytest.raises(CorruptFileError, match=r"lack cycle\(s\) 1, 2; delete"):
        make_run(tmp_path / "lost", spec).run()


def test_the_label_free_signals_are_recorded_and_survive_a_resume(tmp_path):
    """With ``stop.stop_set`` each record holds the stop set's agreement with the previous
    round (none for the first), its mean uncertainty and the LPM's mean predicted loss; a run
    resumed from its state compares with the predictions it saved."""
    from dataclasses import replace

    from ll4al.config import StopSettings

    rule = StopSettings(stop_set=30, min_agreement=0.01, patience=1)
    spec = replace(tiny_spec(cycles=3), stop=rule)
    whole = make_run(tmp_path / "whole", spec).run()
    assert whole[0]["stop_agreement"] is None and whole[0]["stop_set"] == 30
    assert all(-1 <= r["stop_agreement"] <= 1 for r in whole[1:])
    assert all(r["stop_uncertainty"] > 0 and r["stop_predicted_loss"] is not None for r in whole)
    assert [r["stop_rule_met"] for r in whole] == [False] + [
        r["stop_agreement"] >= 0.01 for r in whole[1:]
    ]

    written = []
    first = make_run(tmp_path / "resumed", spec, written=written)
    first.run_cycle(0)
    first.run_cycle(1)
    saved = json.loads((tmp_path / "resumed" / "state.json").read_text())
    assert len(saved["stop_predictions"]) == 30 and "records" not in saved
    make_run(tmp_path / "resumed", spec, written=written).run()
    assert [r["stop_agreement"] for r in written] == [r["stop_agreement"] for r in whole]
    assert [r["stop_rule_met"] for r in written] == [r["stop_rule_met"] for r in whole]


class Killed(Exception):
    pass


@pytest.mark.parametrize("strategy", ["learning-loss", "core-set"])
def test_killed_and_resumed_run_reaches_the_same_labeled_sets(tmp_path, strategy, monkeypatch):
    whole_records, cut_records = [], []
    whole = make_run(tmp_path / "whole", tiny_spec(strategy, cycles=4), written=whole_records)
    whole.run()

    interrupted = make_run(tmp_path / "cut", tiny_spec(strategy, cycles=4), written=cut_records)
    interrupted.run_cycle(0)
    interrupted.run_cycle(1)

    def killed(*args, **kwargs):
        raise Killed

    with monkeypatch.context() as patch:  # a kill in the middle of cycle 3's query
        patch.setattr(interrupted.spec.strategy, "select", killed)
        with pytest.raises(Killed):
            interrupted.run_cycle(2)

    resumed = make_run(tmp_path / "cut", tiny_spec(strategy, cycles=4), written=cut_records)
    assert resumed.next_cycle == 2 and len(resumed.pool.labeled) == 26
    resumed.run()
    assert resumed.pool.labeled.tolist() == whole.pool.labeled.tolist()
    assert [r["cycle"] for r in cut_records] == [1, 2, 3, 4]  # the killed cycle wrote nothing
    assert [r["accuracy"] for r in cut_records] == [r["accuracy"] for r in whole_records]


def test_a_kill_after_the_record_is_written_reruns_the_cycle_to_the_same_record(tmp_path):
    """The record is written before the state marking its cycle done: a kill between the two
    reruns the cycle, which gives the same record again (the results file keeps one)."""
    whole_records, cut_records = [], []
    make_run(tmp_path / "whole", tiny_spec(cycles=3), written=whole_records).run()

    def write_then_kill(record):
        cut_records.append(record)
        raise Killed

    cut = make_run(tmp_path / "cut", tiny_spec(cycles=3), written=cut_records)
    cut.run_cycle(0)
    cut.write_record = write_then_kill
    with pytest.raises(Killed):
        cut.run_cycle(1)
    resumed = make_run(tmp_path / "cut", tiny_spec(cycles=3), written=cut_records)
    assert resumed.next_cycle == 1
    resumed.run()
    assert [r["cycle"] for r in cut_records] == [1, 2, 2, 3]
    same = without_timings(cut_records)
    assert same[1] == same[2] and [same[i] for i in (0, 1, 3)] == without_timings(whole_records)


class NaNAfterFirstCycle(ClassificationTask):
    broken = False

    def per_sample_loss(self, output, targets):
        loss = super().per_sample_loss(output, targets)
        return loss * float("nan") if self.broken else loss


def test_non_finite_loss_stops_the_cycle_and_keeps_the_state(tmp_path):
    task = NaNAfterFirstCycle()
    run = make_run(tmp_path, tiny_spec(cycles=3), task)
    run.run_cycle(0)
    before = (tmp_path / "state.json").read_text()
    task.broken = True
    with pytest.raises(CycleError, match="cycle 2 .*non-finite"):
        run.run_cycle(1)
    assert (tmp_path / "state.json").read_text() == before
    task.broken = False
    resumed = make_run(tmp_path, tiny_spec(cycles=3), task)
    assert resumed.next_cycle == 1 and [r["cycle"] for r in resumed.run()] == [2, 3]


def test_state_of_another_configuration_is_refused(tmp_path):
    make_run(tmp_path, tiny_spec(cycles=2)).run_cycle(0)
    with pytest.raises(PoolError, match="different configuration"):
        make_run(tmp_path, tiny_spec(cycles=3))


def test_corrupt_state_is_reported_not_overwritten(tmp_path):
    (tmp_path / "state.json").write_text("{broken")
    with pytest.raises(CorruptFileError, match="corrupt"):
        make_run(tmp_path, tiny_spec())
    assert (tmp_path / "state.json").read_text() == "{broken"


def test_initial_set_larger_than_pool_is_refused(tmp_path):
    spec = tiny_spec()
    spec.active.initial = 81
    with pytest.raises(PoolError, match="larger than the pool"):
        make_run(tmp_path, spec)


def test_k_larger_than_what_is_left_is_a_clear_error(tmp_path):
    spec = tiny_spec(cycles=12)  # 10 + 8 * 11 = 98 labels from a pool of 80
    run = make_run(tmp_path, spec)
    with pytest.raises(ValueError, match="cannot pick K=8"):
        run.run()
    assert len(json.loads((tmp_path / "state.json").read_text())["pool"]["labeled"]) == 74


def test_initial_set_and_subsets_are_shared_across_strategies():
    assert initial_indices(100, 10, 3).tolist() == initial_indices(100, 10, 3).tolist()
    assert initial_indices(100, 10, 3).tolist() != initial_indices(100, 10, 4).tolist()
    a, b = Pool(50, {i: 0 for i in range(10)}), Pool(50, {i: 0 for i in range(5, 15)})
    sub_a, sub_b = candidate_subset(a, 20, 0, 1), candidate_subset(b, 20, 0, 1)
    common = set(range(15, 50))
    assert [i for i in sub_a if i in common][:10] == [i for i in sub_b if i in common][:10]
    assert not set(sub_a.tolist()) & set(a.labeled.tolist())
    assert len(candidate_subset(a, 1000, 0, 1)) == 40  # fewer unlabeled than the subset size


def test_model_init_is_the_same_for_all_strategies_in_a_cycle(tmp_path):
    weights = []
    for strategy in ("random", "learning-loss"):
        run = make_run(tmp_path / strategy, tiny_spec(strategy, cycles=1))
        learner = run.session.new_learner(0)
        weights.append(learner.target.block1[0].weight.detach().clone())
    assert torch.equal(weights[0], weights[1])
