"""Issue 31 at the estimator: a segment whose EM does not converge is flagged, and only that segment."""

from __future__ import annotations

import numpy as np

from interactions_etl.estimators.position_bias import CurveSettings, _cells_of, estimate_curve, fit_pbm
from tests.estimators.unconverging import EM_MAX_ITERATIONS, SEGMENTS, SHAKY, searches, shown_slots


def test_the_traffic_holds_one_slow_segment_and_only_one() -> None:
    """The premise of the tests below and of the pipeline's: uncapped, every segment converges; the shaky
    retriever needs several times the cap, every other segment a fraction of it."""
    found = searches()
    iterations = {
        segment: fit_pbm(_cells_of(shown_slots(found, segment))[0], max_iterations=20_000).iterations
        for segment in SEGMENTS
    }
    assert iterations.pop(("retriever", SHAKY)) > 3 * EM_MAX_ITERATIONS
    assert max(iterations.values()) < EM_MAX_ITERATIONS / 3, iterations


def test_a_segment_that_does_not_converge_is_flagged_and_the_others_are_not() -> None:
    found = searches()
    settings = CurveSettings(max_iterations=EM_MAX_ITERATIONS, bootstrap_replicates=10)
    estimates = {segment: estimate_curve(shown_slots(found, segment), settings) for segment in SEGMENTS}

    shaky = estimates.pop(("retriever", SHAKY))
    assert not shaky.converged and shaky.iterations == EM_MAX_ITERATIONS
    # The curve and its interval are withheld at every position, the note says why.
    assert not shaky.identifiable.any()
    assert np.isnan(shaky.examination).all() and np.isnan(shaky.examination_low).all()
    # The note says how far from a fixed point it stopped: what an analyst needs to judge a raised cap.
    expected = (
        f"EM did not converge in {EM_MAX_ITERATIONS} iterations (its last step still moved the curve by"
    )
    assert all(note.startswith(expected) for note in shaky.notes), shaky.notes[0]
    # What is exact stays: counts, the naive curve, the pivot cross-check.
    # Two queries on two devices: 200 home pages and 4 shifted ones of 5 slots each.
    assert shaky.impressions.sum() == 2 * 2 * (200 + 4) * 5
    assert shaky.clicks.sum() == sum(len(s.clicked) for s in found if s.retriever == SHAKY)
    assert np.isfinite(shaky.naive_ctr).all() and np.isfinite(shaky.pivot).all()

    for segment, estimate in estimates.items():
        assert estimate.converged, segment
        assert estimate.identifiable.all(), (segment, estimate.notes)
        assert np.isfinite(estimate.examination).all(), segment
