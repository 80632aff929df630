import numpy as np
import pytest

from ll4al.al.pool import Pool, PoolError, SimulatedOracle
from ll4al.files import CorruptFileError


def test_labeling_moves_indices_and_keeps_order():
    pool = Pool(10)
    pool.add_labels([7, 2], ["cat", "dog"])
    pool.add_labels([5], SimulatedOracle(np.arange(10) * 10)(np.array([5])))
    assert pool.labeled.tolist() == [7, 2, 5]
    assert pool.unlabeled.tolist() == [0, 1, 3, 4, 6, 8, 9]
    assert pool.labels_of([5, 7]) == [50, "cat"]


@pytest.mark.parametrize(
    "indices,labels,message",
    [
        ([1, 1], [0, 0], "twice"),
        ([10], [0], "out of range"),
        ([-1], [0], "out of range"),
        ([1, 2], [0], "labels"),
    ],
)
def test_bad_labeling_requests_raise_and_change_nothing(indices, labels, message):
    pool = Pool(10)
    with pytest.raises(PoolError, match=message):
        pool.add_labels(indices, labels)
    assert len(pool.labeled) == 0


def test_relabeling_is_refused():
    pool = Pool(5, {1: 0})
    with pytest.raises(PoolError, match="already labeled"):
        pool.add_labels([1], [1])
    with pytest.raises(PoolError, match="not labeled"):
        pool.labels_of([2])


def test_empty_pool_is_refused():
    with pytest.raises(PoolError, match="empty"):
        Pool(0)


def test_save_and_load_round_trip(tmp_path):
    pool = Pool(6, {4: 1, 0: 3})
    pool.save(tmp_path / "pool.json")
    again = Pool.load(tmp_path / "pool.json")
    assert again.labeled.tolist() == [4, 0] and again.labels_of([0, 4]) == [3, 1]


def test_corrupt_file_is_named_and_left_alone(tmp_path):
    path = tmp_path / "pool.json"
    path.write_text('{"size": 6, "labeled": [[4, 1], [0')
    with pytest.raises(CorruptFileError, match="corrupt"):
        Pool.load(path)
    assert path.read_text().endswith("[0")
    path.write_text('{"labeled": []}')
    with pytest.raises(PoolError, match="not a valid pool state"):
        Pool.load(path)
