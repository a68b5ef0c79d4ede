"""One error hierarchy: every kanal error is a KanalError, and bad input is a ValueError."""

from __future__ import annotations

import pytest

import kanal


@pytest.mark.parametrize(
    ("error", "bases"),
    [
        (kanal.InvalidArgument, (ValueError,)),
        (kanal.InvalidName, (kanal.InvalidArgument, ValueError)),
        (kanal.SerializationError, (kanal.InvalidArgument, ValueError)),
        (kanal.PayloadTooLarge, (kanal.InvalidArgument, ValueError)),
        (kanal.StaleLease, ()),
        (kanal.JobNotFound, (LookupError,)),
        (kanal.InvalidTransition, ()),
        (kanal.WaitTimeout, (TimeoutError,)),
        (kanal.UnknownScheme, (ValueError,)),
        (kanal.BackendUnavailable, (ConnectionError,)),
        (kanal.ConfigError, (ValueError,)),
    ],
)
def test_every_error_is_a_kanal_error_with_the_expected_builtin_bases(
    error: type[kanal.KanalError], bases: tuple[type[Exception], ...]
) -> None:
    assert issubclass(error, kanal.KanalError)
    for base in bases:
        assert issubclass(error, base)
    assert error.__doc__


@pytest.mark.parametrize("error", [kanal.StaleLease, kanal.InvalidTransition, kanal.WaitTimeout])
def test_failures_of_state_are_not_bad_input(error: type[kanal.KanalError]) -> None:
    assert not issubclass(error, kanal.InvalidArgument)
    assert not issubclass(error, ValueError)
