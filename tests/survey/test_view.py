"""The fast annotation loop gives what the rules say, whatever the mix."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from webperf3.store.record import Result
from webperf3.survey import Annotation, BookView, choose_place, result_id
from webperf3.survey.records import Claim, Edit, Segment, Survey
from webperf3.survey.rules import ClaimIndex, Timeline, clean_address

ADDRESSES = ("10.0.0.1", "10.0.0.2", "2001:db8::1")


def reference(view: BookView, result: Result) -> Annotation:
    """One test's annotation, straight from the rules."""
    tid = result_id(result)
    edit = view.edits.get(tid)
    i = view.timeline.index(result.time)
    claim = None
    if result.client:
        claim = view.claims.at(clean_address(result.client), result.time, view.timeline.starts[i])
    place, source = choose_place(edit.place if edit else None, result.name, claim.place if claim else None)
    return Annotation(tid, place, source, view.timeline.surveys[i], bool(edit and edit.excluded))


results_st = st.lists(
    st.builds(
        Result,
        port=st.sampled_from([5201, 5202]),
        time=st.integers(995, 1110).map(float),
        name=st.sampled_from([None, "", "  ", "Lab", " Lab "]),
        client=st.sampled_from([None, "10.0.0.1", "10.0.0.2", "::ffff:10.0.0.2", "2001:db8::1"]),
        cookie=st.sampled_from([None, "abc", "def", "a/b", ""]),
        offset=st.integers(0, 3),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(
    results=results_st,
    sort=st.booleans(),
    starts=st.lists(st.floats(990, 1110), max_size=4),
    claims=st.lists(st.tuples(st.sampled_from(ADDRESSES), st.sampled_from([None, "A", "B"]), st.floats(990, 1110)), max_size=6),
    edit_choice=st.lists(st.tuples(st.sampled_from([None, "E"]), st.booleans()), max_size=30),
)
def test_annotate_all_follows_the_rules(results, sort, starts, claims, edit_choice):
    if sort:
        results = sorted(results, key=lambda r: r.time)
    segments = [Segment(id=1, survey=1, started_at=0.0, kind="initial")]
    segments += [Segment(id=i + 2, survey=i + 2, started_at=at, kind="start") for i, at in enumerate(starts)]
    edits = {}
    for result, (place, excluded) in zip(results, edit_choice, strict=False):
        edits[result_id(result)] = Edit(test_id=result_id(result), port=result.port, started_at=result.time, place=place, excluded=excluded)
    view = BookView(
        7,
        {s.survey: Survey(id=s.survey, name=f"S{s.survey}", created_at=0.0) for s in segments},
        Timeline(segments),
        ClaimIndex(Claim(id=i, address=a, place=p, at=at) for i, (a, p, at) in enumerate(claims)),
        edits,
    )
    assert view.annotate_all(results) == [reference(view, r) for r in results]

    # The survey list and the autocomplete count by the same rules, without
    # an annotation per test.
    ordered = sorted(results, key=lambda r: r.time)
    notes = view.annotate_all(ordered)
    for summary in view.survey_list(ordered):
        mine = [n for n in notes if n.survey == summary.id]
        kept = [n for n in mine if not n.excluded]
        assert (summary.tests, summary.excluded) == (len(mine), len(mine) - len(kept))
        assert summary.places == len({n.place.casefold() for n in kept if n.place})
    current = [n for n in notes if n.survey == view.timeline.current and not n.excluded and n.place]
    assert {n.place.casefold() for n in current} <= {p.casefold() for p in view.places(ordered)}
