"""The metrics whose labels come from the network: the current survey's.

A survey's name and its place names are typed by whoever walks the
building, so as label values they are made safe (:func:`label_value`) and
their number is capped: Prometheus keeps every distinct label value as a
time series of its own, and would accept anything a client sends.

Pure functions: the collector in :mod:`webperf3.ops.metrics` calls
:func:`place_families` with what its ``survey`` callable returned. Here too
is :class:`Family`, how every webperf3 metric family is declared, so both
modules can use it without importing each other.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.metrics_core import Metric

#: The longest label value made from text off the network, in characters.
LABEL_VALUE_MAX = 100
#: What ends a value cut short (or renamed to keep it distinct): "…#" and 8
#: hex digits of a SHA-256 of the whole text.
_TAG_CHARS = 10
# C0 and C1 control characters (newlines, tabs, terminal escapes): useless
# in a legend, and raw ones (a carriage return, a NUL) trip tools downstream.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

#: The most places that get a series of their own, whatever is asked for.
PLACE_LABELS_MAX = 1000


@dataclass(frozen=True, slots=True)
class Family:
    """One metric family: its name, kind, help text and label names."""

    name: str  # as exposed; a counter's ends in _total
    kind: type[Metric]
    help: str
    labels: tuple[str, ...] = ()

    def new(self, help: str | None = None) -> Metric:
        return self.kind(self.name, self.help if help is None else help, labels=self.labels)


@dataclass(frozen=True, slots=True)
class SurveyCounts:
    """What the metrics need of the current survey."""

    name: str
    places: Mapping[str, int]  # place name → tests there, in the survey's order
    tests: int  # tests in the survey (a test may belong to no place)


def _digest(text: str) -> str:
    # surrogatepass: a lone surrogate still hashes, and distinctly.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def label_value(text: str, limit: int = LABEL_VALUE_MAX, *, tagged: bool = False) -> str:
    """``text`` as a label value: valid UTF-8, no control characters, at most
    ``limit`` characters, never empty (Prometheus reads an empty label as
    none). Text that had to change is tagged with a hash of the whole (and
    cut short if need be), so two names stay two values and a clean name
    never reads as a changed one; ``tagged`` tags it anyway (to tell apart
    two names that still became one value). Quotes and backslashes need
    nothing here: the exposition escapes them."""
    clean = _CONTROL.sub(" ", text.encode("utf-8", "replace").decode("utf-8"))
    if tagged or clean != text or not clean or len(clean) > limit:
        clean = clean[: limit - _TAG_CHARS] + "…#" + _digest(text)
    return clean


SURVEY_INFO = Family(
    "webperf3_survey", InfoMetricFamily,
    f"The current survey, by name. A name with control characters (shown as spaces), empty or over "
    f"{LABEL_VALUE_MAX} characters (cut short) ends in … and # with 8 hex digits of a hash of the whole name.",
    ("survey",))
SURVEY_PLACES = Family(
    "webperf3_survey_places", GaugeMetricFamily, "Places in the current survey.")
SURVEY_TESTS = Family(
    "webperf3_survey_tests", GaugeMetricFamily,
    "Tests in the current survey (a gauge: removing a place removes its tests).")
PLACE_TESTS = Family(
    "webperf3_survey_place_tests", GaugeMetricFamily, "", ("place",))
PLACES_UNLABELLED = Family(
    "webperf3_survey_places_unlabelled", GaugeMetricFamily,
    "Places of the current survey beyond the cap on place labels: in webperf3_survey_places, "
    "without a webperf3_survey_place_tests series of their own.")


def place_tests_help(cap: int) -> str:
    return (
        f"Tests at each place of the current survey. Only the first {cap} places in survey order "
        "get a series (the others are counted in webperf3_survey_places_unlabelled). A name with "
        f"control characters (shown as spaces), empty, over {LABEL_VALUE_MAX} characters (cut short) "
        "or reading as another's ends in … and # with 8 hex digits of a hash of the whole name."
    )


def survey_families(place_labels: int) -> list[Metric]:
    """The survey's metric families, with no samples yet."""
    cap = min(max(place_labels, 0), PLACE_LABELS_MAX)
    families = [SURVEY_INFO.new(), SURVEY_PLACES.new(), SURVEY_TESTS.new()]
    if cap:
        families += [PLACE_TESTS.new(place_tests_help(cap)), PLACES_UNLABELLED.new()]
    return families


def place_families(survey: SurveyCounts | None, place_labels: int) -> list[Metric]:
    """The current survey's metrics; none without a current survey.

    ``place_labels`` > 0 gives up to that many places (at most
    :data:`PLACE_LABELS_MAX`) a ``webperf3_survey_place_tests`` series.
    """
    if survey is None:
        return []
    families = survey_families(place_labels)
    info, places, tests = families[:3]
    info.add_metric([], {"survey": label_value(survey.name)})
    places.add_metric([], len(survey.places))
    tests.add_metric([], survey.tests)
    if len(families) == 3:
        return families

    labelled, unlabelled = families[3:]
    cap = min(place_labels, PLACE_LABELS_MAX)
    seen: set[str] = set()
    for name, count in survey.places.items():
        if len(seen) == cap:
            break
        value = label_value(name)
        if value in seen:  # a clean name that reads like a tagged one: tell them apart
            value = label_value(name, tagged=True)
        if value not in seen:  # else a 32-bit hash collision: left unlabelled
            seen.add(value)
            labelled.add_metric([value], count)
    unlabelled.add_metric([], len(survey.places) - len(seen))
    return families
