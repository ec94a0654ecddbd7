"""rapport.core.bulkload's helpers that need no database: the garbage-collector setting."""

from __future__ import annotations

import gc

import pytest

from rapport.core import bulkload


def test_few_collections_freezes_and_restores():
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    with bulkload.few_collections():
        assert gc.get_threshold()[0] == bulkload.GC_THRESHOLD
        assert gc.get_threshold()[1:] == before[1:]
        assert gc.get_freeze_count() > frozen
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_few_collections_restores_after_an_error():
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), bulkload.few_collections():
        raise RuntimeError("a bad row")
    assert gc.get_threshold() == before
