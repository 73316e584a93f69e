import pytest

from rl_lab.rl.schedules import linear_schedule


@pytest.mark.parametrize(
    ("t", "expected"), [(0, 1.0), (50, 0.525), (100, 0.05), (1_000, 0.05), (-5, 1.0)]
)
def test_linear_schedule(t, expected):
    assert linear_schedule(1.0, 0.05, 100, t) == pytest.approx(expected)


def test_zero_duration_gives_the_end_value():
    assert linear_schedule(1.0, 0.1, 0, 0) == 0.1


def test_scheduled_hyperparameters():
    from rl_lab.rl.schedules import scheduled

    assert scheduled(1e-3, "constant", 500, 1000) == 1e-3
    assert scheduled(1e-3, "linear", 750, 1000) == pytest.approx(2.5e-4)
    assert scheduled(1e-3, "linear", 2000, 1000) == 0.0
