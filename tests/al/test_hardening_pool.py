"""Hardening of the pool state: killed saves never lose a label or repeat one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ll4al.al.pool import Pool, PoolError

from ..hardening import (
    Killed,
    replace_then_kill,
)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(5, 40).flatmap(
        lambda size: st.tuples(
            st.just(size),
            st.permutations(range(size)),
            st.lists(st.tuples(st.integers(1, 5), st.booleans()), max_size=8),
        )
    )
)
def test_a_pool_state_survives_killed_saves_and_refuses_repeats(case):
    """Labels added in batches, each batch saved (or killed mid-save): the file always loads
    to the pool as of its last completed save, and a state listing an index twice never
    loads."""
    size, order, batches = case
    real_replace = os.replace
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "state.json"
        pool, saved, start = Pool(size), None, 0
        for count, killed in batches:
            batch = order[start : start + count]
            if not batch:
                break
            pool.add_labels(batch, [f"c{i % 3}" for i in batch])
            start += len(batch)
            if killed:
                os.replace = replace_then_kill
                try:
                    with pytest.raises(Killed):
                        pool.save(path)
                finally:
                    os.replace = real_replace
            else:
                pool.save(path)
                saved = pool.to_dict()
            if saved is None:
                assert not path.exists()
                continue
            loaded = Pool.load(path)
            assert loaded.to_dict() == saved
            assert len(set(loaded.labeled.tolist())) == len(loaded.labeled)
        if saved is not None and saved["labeled"]:
            repeated = {**saved, "labeled": [*saved["labeled"], saved["labeled"][-1]]}
            with pytest.raises(PoolError, match="listed twice"):
                Pool.from_dict(repeated)
