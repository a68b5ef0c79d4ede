"""The kanal conformance suite: proves a backend keeps every guarantee of the kanal protocol.

Run it against any URL::

    pytest --pyargs kanal_conformance.url_suite --kanal-url redis://localhost:6379/0

or subclass :class:`QueueSuite` in your own tests and provide a ``queue_url`` fixture.
"""

from kanal_conformance.suite import LONG, MARGIN, SHORT, QueueSuite, SuiteBase

__all__ = ["LONG", "MARGIN", "SHORT", "QueueSuite", "SuiteBase"]
