import pytest

from rl_lab.rl.schedules import linear_schedule


@pytest.mark.parametrize(
    ("t", "expected"), [(0, 1.0), (50, 0.525), (100, 0.05), (1_000, 0.05), (-5, 1.0)]
)
def test_linear_schedule(t, expected):
    assert linear_schedule(1.0, 0.05, 100, t) == pytest.approx(expected)


def test_zero_duration_gives_the_end_value():
    assert linear_schedule(1.0, 0.1, 0, 0) == 0.1
