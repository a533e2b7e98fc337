import pytest

from noisetrain.evaluate.progress import expect, reporting, step


def test_outside_reporting_nothing_happens():
    expect(5)
    step()


def test_counts_go_to_the_callback_and_a_short_measure_is_finished():
    calls = []
    with reporting("sweep", lambda *call: calls.append(call)):
        expect(3)
        step()
        step(1)
    assert calls == [("sweep", 0, 1), ("sweep", 0, 3), ("sweep", 1, 3), ("sweep", 2, 3), ("sweep", 3, 3)]
    step()  # the reporter is gone
    assert len(calls) == 5


def test_a_failing_measure_is_not_reported_finished():
    calls = []
    with pytest.raises(RuntimeError), reporting("attack", lambda *call: calls.append(call)):
        expect(4)
        step()
        raise RuntimeError
    assert calls == [("attack", 0, 1), ("attack", 0, 4), ("attack", 1, 4)]


def test_no_callback_hides_an_inner_measure_from_the_outer_one():
    calls = []
    with reporting("outer", lambda *call: calls.append(call)):
        with reporting("inner", None):
            expect(10)
            step()
        step()
    assert calls == [("outer", 0, 1), ("outer", 1, 1)]
