import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from rl_lab.nets.distributions import Categorical, DiagGaussian
from rl_lab.rl.policies import ActorCriticPolicy

OBS = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
DISCRETE = gym.spaces.Discrete(4)
BOX = gym.spaces.Box(-2.0, 2.0, (2,), np.float32)
ENCODER = {"type": "mlp", "hidden_sizes": [16, 16], "activation": "tanh"}
LSTM = {"hidden_size": 8, "num_layers": 1}


def make(action_space=DISCRETE, **kwargs) -> ActorCriticPolicy:
    torch.manual_seed(0)
    return ActorCriticPolicy(OBS, action_space, encoder=ENCODER, **kwargs)


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("action_space", [DISCRETE, BOX], ids=["discrete", "box"])
def test_output_shapes_and_trunks(action_space, shared) -> None:
    policy = make(action_space, shared=shared)
    dist, values, state = policy(torch.randn(5, 3))
    assert values.shape == (5,) and state is None
    if action_space is DISCRETE:
        assert isinstance(dist, Categorical) and dist.logits.shape == (5, 4)
    else:
        assert isinstance(dist, DiagGaussian) and dist.mean.shape == (5, 2)
    assert len(policy.trunks) == (1 if shared else 2)
    # separate trunks do not share parameters: a critic-only loss leaves the actor's untouched
    policy.value(torch.randn(5, 3)).sum().backward()
    actor_grad = policy.trunks[0].encoder.layers[0].weight.grad
    assert (actor_grad is not None and actor_grad.abs().sum() > 0) == shared


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("action_space", [DISCRETE, BOX], ids=["discrete", "box"])
def test_the_action_distribution_alone_equals_the_full_forward(action_space, shared) -> None:
    policy = make(action_space, shared=shared)
    obs = torch.randn(6, 3)
    full, _, _ = policy(obs)
    assert torch.equal(policy.action_distribution(obs).mode(), full.mode())
    with pytest.raises(AssertionError, match="recurrent"):
        make(lstm=LSTM).action_distribution(obs)


def test_orthogonal_init_uses_sb3_gains() -> None:
    policy = make(BOX)

    def spectral_norm(layer: torch.nn.Linear) -> float:
        return torch.linalg.matrix_norm(layer.weight.detach(), ord=2).item()

    for trunk in policy.trunks:
        for layer in trunk.encoder.layers:
            if isinstance(layer, torch.nn.Linear):
                assert spectral_norm(layer) == pytest.approx(math.sqrt(2), rel=1e-4)
    assert spectral_norm(policy.action_head.mean) == pytest.approx(0.01, rel=1e-4)
    assert spectral_norm(policy.value_head) == pytest.approx(1.0, rel=1e-4)
    assert not policy.value_head.bias.any()
    assert torch.equal(policy.log_std, torch.zeros(2))


@pytest.mark.parametrize(
    "space",
    [gym.spaces.MultiBinary(3), gym.spaces.MultiDiscrete([[2, 3], [2, 2]])],
    ids=["MultiBinary", "2-D MultiDiscrete"],
)
def test_unsupported_action_space_is_rejected(space) -> None:
    with pytest.raises(ValueError, match="1-D MultiDiscrete and 1-D Box"):
        make(space)


@pytest.mark.parametrize("shared", [False, True])
def test_recurrent_sequence_evaluation_matches_step_by_step_acting(shared) -> None:
    """The update replays a rollout as sequences; it must see what acting saw, step by step."""
    policy = make(DISCRETE, shared=shared, lstm=LSTM)
    n_steps, n_envs = 6, 3
    obs = torch.randn(n_steps, n_envs, 3)
    starts = torch.zeros(n_steps, n_envs, dtype=torch.bool)
    starts[0] = True
    starts[3, 1] = True  # env 1 starts a new episode at step 3
    start_state = torch.randn_like(policy.initial_state(n_envs))
    state, log_probs, values, actions = start_state, [], [], []
    with torch.no_grad():
        for t in range(n_steps):
            dist, value, state = policy(obs[t], state, starts[t])
            action = dist.sample()
            actions.append(action)
            log_probs.append(dist.log_prob(action))
            values.append(value)
        seq_log_probs, _, seq_values = policy.evaluate_actions(
            obs, torch.cat(actions), start_state, starts
        )
    torch.testing.assert_close(seq_log_probs, torch.cat(log_probs))
    torch.testing.assert_close(seq_values, torch.cat(values))
    assert state.shape == (1 if shared else 2, 2, 1, n_envs, 8)


def test_recurrent_state_resets_at_episode_starts() -> None:
    policy = make(DISCRETE, lstm=LSTM)
    obs = torch.randn(5, 2, 3)
    state = policy.initial_state(2)
    with torch.no_grad():
        for t in range(3):  # build up memory
            _, _, state = policy(obs[t], state, torch.zeros(2, dtype=torch.bool))
        dist, value, new_state = policy(obs[3], state, torch.tensor([True, False]))
        fresh_dist, fresh_value, fresh_state = policy(obs[3], policy.initial_state(2))
        carry_dist, carry_value, _ = policy(obs[3], state, torch.tensor([False, False]))
    # env 0 restarted: exactly as from a zero state; env 1 kept its memory
    torch.testing.assert_close(dist.logits[0], fresh_dist.logits[0])
    torch.testing.assert_close(value[0], fresh_value[0])
    torch.testing.assert_close(new_state[..., 0, :], fresh_state[..., 0, :])
    torch.testing.assert_close(dist.logits[1], carry_dist.logits[1])
    assert not torch.allclose(value[0], carry_value[0])  # memory did matter (test can fail)
