"""Bulk calls read at most one item past their limit, so an endless iterable cannot hang them."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

import kanal


@pytest.mark.parametrize(
    "call",
    [
        lambda q: q.enqueue_many("q", itertools.count()),
        lambda q: q.ack_many(itertools.repeat(None)),
        lambda q: q.extend_many(itertools.repeat(None)),
        lambda q: q.redrive("q", itertools.repeat("job-1")),
    ],
    ids=["enqueue_many", "ack_many", "extend_many", "redrive"],
)
def test_an_endless_iterable_is_refused_without_being_drained(call: Callable[[kanal.Queue], object]) -> None:
    queue = kanal.connect("memory://")
    with pytest.raises(kanal.InvalidArgument, match=r"at most 1000 .* got more than 1000"):
        call(queue)
    assert queue.queues() == []
