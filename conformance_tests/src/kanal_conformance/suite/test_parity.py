"""Sync/async parity: Queue and AsyncQueue have the same methods and signatures.

These checks need no backend, but they live in the suite so that every backend's run
includes them: a backend package pinned to a kanal whose facades drifted fails loudly.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

import kanal
from kanal import AsyncQueue, Queue
from kanal_conformance.suite.base import SuiteBase

#: Context-manager methods, the same role under sync and async names, and what each returns.
CONTEXT_METHODS = [("__enter__", "__aenter__", Queue, AsyncQueue), ("__exit__", "__aexit__", None, None)]


def public_names(cls: type) -> set[str]:
    """Public attributes (methods and properties) defined on ``cls`` or its bases."""
    return {name for name in dir(cls) if not name.startswith("_")}


def public_methods(cls: type) -> list[str]:
    return sorted(name for name in public_names(cls) if inspect.isfunction(getattr(cls, name)))


def signature(function: Callable[..., Any]) -> inspect.Signature:
    """The signature with annotations resolved, so a name missing from a module fails here."""
    return inspect.signature(function, eval_str=True)


SYNC_METHODS = public_methods(Queue)
ASYNC_METHODS = public_methods(AsyncQueue)


class ParityTests(SuiteBase):
    """Sync/async parity: Queue and AsyncQueue have the same methods and signatures."""

    def test_both_facades_have_the_same_public_names(self) -> None:
        assert public_names(Queue) == public_names(AsyncQueue)
        assert SYNC_METHODS == ASYNC_METHODS
        assert {"enqueue", "dequeue", "ack", "stats", "queues", "recover", "close"} <= set(SYNC_METHODS)

    @pytest.mark.parametrize("name", SYNC_METHODS)
    def test_every_queue_method_is_a_coroutine_function_on_async_queue(self, name: str) -> None:
        assert not inspect.iscoroutinefunction(getattr(Queue, name))
        assert inspect.iscoroutinefunction(getattr(AsyncQueue, name))

    @pytest.mark.parametrize("name", ASYNC_METHODS)
    def test_every_async_queue_method_is_a_plain_function_on_queue(self, name: str) -> None:
        assert inspect.iscoroutinefunction(getattr(AsyncQueue, name))
        assert inspect.isfunction(getattr(Queue, name))
        assert not inspect.iscoroutinefunction(getattr(Queue, name))

    @pytest.mark.parametrize("name", SYNC_METHODS)
    def test_signatures_are_identical(self, name: str) -> None:
        sync, async_ = signature(getattr(Queue, name)), signature(getattr(AsyncQueue, name))
        assert list(sync.parameters) == list(async_.parameters)
        for param in sync.parameters.values():
            other = async_.parameters[param.name]
            assert (other.kind, other.default, other.annotation) == (
                param.kind,
                param.default,
                param.annotation,
            ), f"{name}({param.name}) differs"
        assert sync.return_annotation == async_.return_annotation
        assert sync == async_

    @pytest.mark.parametrize("name", SYNC_METHODS)
    def test_docstrings_are_identical_and_present(self, name: str) -> None:
        sync_doc, async_doc = inspect.getdoc(getattr(Queue, name)), inspect.getdoc(getattr(AsyncQueue, name))
        assert sync_doc, f"Queue.{name} has no docstring"
        assert sync_doc == async_doc

    @pytest.mark.parametrize("name", sorted(public_names(Queue) - set(SYNC_METHODS)))
    def test_properties_match(self, name: str) -> None:
        sync, async_ = getattr(Queue, name), getattr(AsyncQueue, name)
        assert isinstance(sync, property)
        assert isinstance(async_, property)
        assert sync.fget is not None
        assert async_.fget is not None
        assert signature(sync.fget) == signature(async_.fget)
        assert inspect.getdoc(sync) == inspect.getdoc(async_)

    @pytest.mark.parametrize(("sync_name", "async_name", "sync_returns", "async_returns"), CONTEXT_METHODS)
    def test_context_managers_match(
        self, sync_name: str, async_name: str, sync_returns: object, async_returns: object
    ) -> None:
        sync, async_ = getattr(Queue, sync_name), getattr(AsyncQueue, async_name)
        assert not inspect.iscoroutinefunction(sync)
        assert inspect.iscoroutinefunction(async_)
        assert signature(sync).parameters == signature(async_).parameters
        assert signature(sync).return_annotation is sync_returns
        assert signature(async_).return_annotation is async_returns

    def test_connect_and_connect_async_take_the_same_arguments(self) -> None:
        sync, async_ = signature(kanal.connect), signature(kanal.connect_async)
        assert sync.parameters == async_.parameters
        assert (sync.return_annotation, async_.return_annotation) == (Queue, AsyncQueue)
        assert next(iter(sync.parameters)) == "url"
        assert inspect.getdoc(kanal.connect)
        assert inspect.getdoc(kanal.connect_async)
