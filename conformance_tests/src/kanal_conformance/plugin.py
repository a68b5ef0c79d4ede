"""pytest plugin of the kanal conformance suite (registered through the ``pytest11`` entry point).

- ``--kanal-url URL``: the backend that ``pytest --pyargs kanal_conformance.url_suite`` tests.
- Marker ``kanal_requires(capability, ...)``: the test runs only where the backend has it.
- Guard: a core conformance test (one without ``kanal_requires``) that ends skipped or
  xfailed fails the run instead; overriding one in a subclass is an error at import.
- Hypothesis profiles ``ci`` (default) and ``nightly``, picked by ``KANAL_HYPOTHESIS_PROFILE``.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest
from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
}
settings.register_profile("ci", max_examples=30, stateful_step_count=25, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("nightly", max_examples=300, stateful_step_count=60, **_COMMON)  # type: ignore[arg-type]
settings.load_profile(os.environ.get("KANAL_HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kanal", "kanal conformance suite")
    group.addoption(
        "--kanal-url",
        default=os.environ.get("KANAL_URL"),
        help="backend URL that kanal_conformance.url_suite tests (default: $KANAL_URL)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "kanal_requires(*capabilities): run only on backends with these Capabilities flags",
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.skipped and _is_core_test(item):
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid}: a core conformance test may not be skipped or xfailed; "
            "only tests marked kanal_requires(...) depend on capabilities"
        )


def _is_core_test(item: pytest.Item) -> bool:
    from kanal_conformance.suite.base import SuiteBase

    cls = getattr(item, "cls", None)
    name = item.originalname if isinstance(item, pytest.Function) else item.name
    return (
        cls is not None
        and issubclass(cls, SuiteBase)
        and item.get_closest_marker("kanal_requires") is None
        and name in SuiteBase.core_test_names()
    )
