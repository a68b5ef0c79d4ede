"""JSONSerializer round trips and errors, and how a queue uses a plugged-in serializer."""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

import kanal
from kanal import JobState, JSONSerializer, SerializationError


def circular_list() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


def circular_dict() -> dict[str, Any]:
    loop: dict[str, Any] = {"ok": 1}
    loop["self"] = loop
    return loop


def deeply_nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        -(2**63),
        2**100,
        1.5,
        -0.0,
        1e308,
        "",
        "ünïcødé ✓ \x00 \n",
        [],
        {},
        [1, "two", None, [3.5, {"four": False}]],
        {"nested": {"list": [1, {"a": None}]}, "": "empty key"},
    ],
)
def test_json_values_round_trip(value: Any) -> None:
    serializer = JSONSerializer()
    data = serializer.dumps(value)
    assert isinstance(data, bytes)
    assert serializer.loads(data) == value


def test_encoding_is_compact_json() -> None:
    assert JSONSerializer().dumps({"a": [1, 2], "b": None}) == b'{"a":[1,2],"b":null}'


@pytest.mark.parametrize(
    ("value", "decoded"),
    [
        ((1, (2, 3)), [1, [2, 3]]),
        ({7: "a", 2.5: "b", False: "c", None: "d"}, {"7": "a", "2.5": "b", "false": "c", "null": "d"}),
    ],
)
def test_json_normalises_tuples_and_scalar_keys(value: Any, decoded: Any) -> None:
    serializer = JSONSerializer()
    assert serializer.loads(serializer.dumps(value)) == decoded


@pytest.mark.parametrize(
    ("value", "path", "problem"),
    [
        ({1, 2}, "value", "is of type set"),
        (b"raw", "value", "is of type bytes"),
        (math.nan, "value", "is nan"),
        ({"x": math.inf}, "value['x']", "is inf"),
        ([0, -math.inf], "value[1]", "is -inf"),
        ({"tags": ["a", "b", {"c"}]}, "value['tags'][2]", "is of type set"),
        ({"when": datetime(2030, 1, 1, tzinfo=UTC)}, "value['when']", "is of type datetime"),
        ({"price": Decimal("1.10")}, "value['price']", "is of type Decimal"),
        ([object()], "value[0]", "is of type object"),
        ((1, {2}), "value[1]", "is of type set"),
        ({"a": {(1, 2): "v"}}, "value['a']", "has a key of type tuple"),
        (circular_list(), "value[0]", "contains itself"),
        ({"outer": circular_dict()}, "value['outer']['self']", "contains itself"),
    ],
)
def test_unencodable_values_are_named_with_their_path(value: Any, path: str, problem: str) -> None:
    with pytest.raises(SerializationError) as caught:
        JSONSerializer().dumps(value)
    message = str(caught.value)
    assert message.startswith(f"{path} {problem}"), message
    assert "JSON carries" in message
    assert isinstance(caught.value, kanal.InvalidArgument)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value.__cause__, TypeError | ValueError | RecursionError)


def test_a_value_nested_too_deeply_is_a_serialization_error() -> None:
    with pytest.raises(SerializationError, match=r"deep|recursion"):
        JSONSerializer().dumps(deeply_nested(100_000))


def test_enqueue_of_a_value_nested_too_deeply_is_a_serialization_error() -> None:
    with kanal.connect("memory://") as queue:
        with pytest.raises(SerializationError, match="payload"):
            queue.enqueue("q", deeply_nested(100_000))
        assert queue.queues() == []


@pytest.mark.parametrize("data", [b"", b"{not json", b"\xff\xfe", b"[1,", b"NaN1"])
def test_malformed_data_raises_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        JSONSerializer().loads(data)


class Tagged:
    """A serializer that prefixes JSON with a tag, and refuses data without it."""

    def dumps(self, value: Any) -> bytes:
        return b"T:" + json.dumps(value).encode()

    def loads(self, data: bytes) -> Any:
        if not data.startswith(b"T:"):
            raise ValueError("untagged")
        return json.loads(data[2:])


class ReturnsText:
    def dumps(self, value: Any) -> Any:
        return json.dumps(value)

    def loads(self, data: bytes) -> Any:
        return json.loads(data)


class RaisesTypeError:
    def dumps(self, value: Any) -> bytes:
        raise TypeError("cannot do that")

    def loads(self, data: bytes) -> Any:
        return json.loads(data)


def test_a_plugged_in_serializer_is_used_both_ways() -> None:
    with kanal.connect("memory://", serializer=Tagged()) as queue:
        job = queue.enqueue("q", {"a": [1, 2]})
        assert job.payload == {"a": [1, 2]}
        [lease] = queue.dequeue("q")
        assert lease.payload == {"a": [1, 2]}
        assert queue.ack(lease, result={"ok": True}).result == {"ok": True}


@pytest.mark.parametrize(
    ("serializer", "fragments"),
    [
        (ReturnsText(), ["returned str, not bytes"]),
        (RaisesTypeError(), ["payload", "dict", "cannot do that"]),
    ],
)
def test_a_misbehaving_serializer_raises_serialization_error(serializer: Any, fragments: list[str]) -> None:
    with kanal.connect("memory://", serializer=serializer) as queue:
        with pytest.raises(SerializationError) as caught:
            queue.enqueue("q", {"a": 1})
        for fragment in fragments:
            assert fragment in str(caught.value)
        assert queue.queues() == []


def test_a_payload_that_cannot_be_decoded_is_dead_lettered_not_delivered() -> None:
    url = f"memory://serializer-{uuid.uuid4().hex}"
    with kanal.connect(url) as plain, kanal.connect(url, serializer=Tagged()) as strict:
        poison = plain.enqueue("q", "plain json, no tag")
        good = strict.enqueue("q", "tagged")
        assert [lease.id for lease in strict.dequeue("q", limit=10)] == [good.id]
        dead = strict.get("q", poison.id)
        assert dead is not None
        assert (dead.state, dead.attempts) == (JobState.DEAD, 1)
        assert dead.last_error is not None
        assert "cannot be decoded by Tagged" in dead.last_error
        assert "untagged" in dead.last_error
