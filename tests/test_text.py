"""Shared wording."""

from noisetrain.text import counted


def test_counted_takes_the_number_of_its_count():
    assert [counted(n, "run") for n in (0, 1, 2, 1500)] == ["0 runs", "1 run", "2 runs", "1,500 runs"]
