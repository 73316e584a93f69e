"""The rl task module: presets, validation before work, what results.json records."""

from __future__ import annotations

import logging

from rl_lab import app
from rl_lab.rl.task import available_presets, preset_message
from tests.conftest import TINY


def test_a_run_says_which_preset_it_applied_or_that_none_exists(compose_cfg):
    level, line = preset_message(compose_cfg("agent=ppo", "env=Pendulum-v1"))
    assert level == logging.INFO and "ppo/Pendulum-v1 applied" in line
    level, line = preset_message(compose_cfg("agent=dqn", "env=Acrobot-v1"))
    assert level == logging.WARNING and "No tuned preset exists for agent=dqn on Acrobot-v1" in line
    assert "Nearest presets of dqn: CartPole-v1" in line
    level, line = preset_message(compose_cfg("agent=a2c", "env=LunarLander-v3"))
    assert "Agents with a preset for LunarLander-v3: dqn" in line
    assert "CartPole-v1" in available_presets()["dqn"] and "_atari" not in available_presets()


def test_results_record_the_preset(compose_cfg, tmp_path):
    results = app.run(compose_cfg(*TINY), tmp_path, [])
    assert results["preset"] == "dqn/CartPole-v1"
