"""Each RL loop against its floor: a minimal hand-written PyTorch loop with the same work.

For DQN (CartPole-v1, RL Zoo's settings), PPO (CartPole-v1), TD3, DDPG and SAC (Pendulum-v1),
A2C (CartPole-v1) and PPO with the Nature CNN on Pong (``ppo_pong``: the Atari preset, the
gymnasium backend), all but DQN with the shipped presets (RL Zoo's), three sides run the same
budget with the same networks, batch sizes and number of gradient steps, each in a fresh
process with one torch thread:

- ``ours``: ``python -m rl_lab agent=<agent> env=<env> ...`` (no periodic evaluation, no
  checkpoints, no progress bar; one final evaluation episode);
- ``sb3``: the same command with ``impl=sb3`` (Stable-Baselines3 through the same harness);
- ``floor``: a loop written here top to bottom (gymnasium env, ``nn.Sequential`` networks,
  NumPy replay or rollout arrays, ``torch.optim.Adam(fused=True)``; A2C's
  ``torch.optim.RMSprop(foreach=True)``, as rl_lab's A2C uses RMSprop), with no logging, no
  checks and no evaluation.

SPS is env steps per second of training (rl_lab and SB3: ``results.json``'s ``sps``, which
includes the one final evaluation episode; the floor: its loop alone). Each round runs every
side once, in an order that rotates from round to round; the table gives the medians over
rounds and the range of the per-round ratios. For TD3, DDPG, SAC and PPO on Pong, whose updates
are compute-bound (400x300 or 256x256 actors and critics, batches of 256; the Nature CNN on
minibatches of 256 stacks of frames), it also gives the achieved
GFLOP/s of the gradient steps against this machine's measured single-thread float32 matmul
peak.

    python scripts/bench_floors.py                         # 3 rounds of all seven loops
    python scripts/bench_floors.py --loops dqn --rounds 5
    python scripts/bench_floors.py --smoke                 # tiny budgets: checks the script
    python scripts/bench_floors.py --loops td3 --bf16      # and ours in bfloat16 autocast
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rl_lab.reports.machine import describe_machine, machine_info  # noqa: E402
from rl_lab.reports.runs import read_results  # noqa: E402

#: RL Zoo's DQN CartPole-v1 settings (hyperparams/dqn.yml), as the flagship preset's overrides.
DQN_ZOO = {
    "learning_rate": 2.3e-3,
    "batch_size": 64,
    "buffer_size": 100_000,
    "learning_starts": 1_000,
    "gamma": 0.99,
    "target_update_interval": 10,
    "train_freq": 256,
    "gradient_steps": 128,
    "exploration_fraction": 0.16,
    "exploration_final_eps": 0.04,
    "hidden": [256, 256],
}
#: The PPO CartPole-v1 preset (conf/preset/ppo/CartPole-v1.yaml; RL Zoo's).
PPO_ZOO = {
    "num_envs": 8,
    "n_steps": 32,
    "batch_size": 256,
    "n_epochs": 20,
    "learning_rate": 1e-3,
    "clip_range": 0.2,
    "gamma": 0.98,
    "gae_lambda": 0.8,
    "hidden": [64, 64],
}
#: The TD3 Pendulum-v1 preset (conf/preset/td3/Pendulum-v1.yaml; RL Zoo's) on TD3's defaults.
TD3_ZOO = {
    "learning_rate": 1e-3,
    "batch_size": 256,
    "buffer_size": 200_000,
    "learning_starts": 10_000,
    "gamma": 0.98,
    "tau": 0.005,
    "policy_delay": 2,
    "action_noise_std": 0.1,
    "target_policy_noise": 0.2,
    "target_noise_clip": 0.5,
    "n_critics": 2,
    "hidden": [400, 300],
}
#: The DDPG Pendulum-v1 preset (conf/preset/ddpg/Pendulum-v1.yaml; RL Zoo's): TD3's settings
#: with one critic, no policy delay and no target smoothing (rl_lab's and SB3's DDPG).
DDPG_ZOO = {**TD3_ZOO, "n_critics": 1, "policy_delay": 1, "target_policy_noise": 0.0}
#: The SAC Pendulum-v1 preset (conf/preset/sac/Pendulum-v1.yaml; RL Zoo's) on SAC's defaults.
SAC_ZOO = {
    "learning_rate": 1e-3,
    "batch_size": 256,
    "buffer_size": 1_000_000,
    "learning_starts": 100,
    "gamma": 0.99,
    "tau": 0.005,
    "train_freq": 1,
    "gradient_steps": 1,
    "target_update_interval": 1,
    "ent_coef": "auto",  # learned, from 1.0
    "target_entropy": "auto",  # -dim(A)
    "hidden": [256, 256],
}
#: The A2C CartPole-v1 preset (conf/preset/a2c/CartPole-v1.yaml; RL Zoo's) on A2C's defaults.
A2C_ZOO = {
    "num_envs": 8,
    "n_steps": 5,
    "learning_rate": 7e-4,
    "gamma": 0.99,
    "gae_lambda": 1.0,  # plain n-step returns
    "ent_coef": 0.0,
    "vf_coef": 0.5,
    "max_grad_norm": 0.5,
    "rms_prop_eps": 1e-5,
    "hidden": [64, 64],
}
#: The PPO Atari preset (conf/preset/ppo/ALE/atari.yaml; RL Zoo's) on Pong: one Nature CNN
#: shared by policy and value, the gymnasium backend's preprocessing (84x84 gray, frame skip 4,
#: 4 stacked frames, sticky actions 0.25).
PPO_ATARI = {
    "num_envs": 8,
    "n_steps": 128,
    "batch_size": 256,
    "n_epochs": 4,
    "learning_rate": 2.5e-4,
    "clip_range": 0.1,
    "ent_coef": 0.01,
    "vf_coef": 0.5,
    "max_grad_norm": 0.5,
    "gamma": 0.99,
    "gae_lambda": 0.95,
}


@dataclass
class Loop:
    """One loop to measure: the rl_lab command's overrides and the floor's budget."""

    name: str
    overrides: list[str]
    steps: int
    rows: dict[str, list[dict]] = field(default_factory=dict)


def loops(
    dqn_steps: int,
    ppo_steps: int,
    td3_steps: int,
    sac_steps: int,
    a2c_steps: int,
    pong_steps: int,
) -> dict[str, Loop]:
    """The loops, each at its budget."""
    dqn = [f"agent.{k}={v}" for k, v in DQN_ZOO.items() if k != "hidden"]
    dqn += ["agent.n_steps=1", "agent.lr_schedule=constant", "eval.select=last"]
    dqn += ["agent.network.encoder.hidden_sizes=[256,256]"]
    return {
        "dqn": Loop("dqn", ["agent=dqn", "env=CartPole-v1", *dqn], dqn_steps),
        "ppo": Loop("ppo", ["agent=ppo", "env=CartPole-v1"], ppo_steps),
        "td3": Loop("td3", ["agent=td3", "env=Pendulum-v1"], td3_steps),
        "ddpg": Loop("ddpg", ["agent=ddpg", "env=Pendulum-v1"], td3_steps),
        "sac": Loop("sac", ["agent=sac", "env=Pendulum-v1"], sac_steps),
        "a2c": Loop("a2c", ["agent=a2c", "env=CartPole-v1"], a2c_steps),
        "ppo_pong": Loop("ppo_pong", ["agent=ppo", "env=ALE/Pong-v5"], pong_steps),
    }


# ------------------------------------------------------------------------------------ floors
def _mlp(sizes: list[int], activation: type, out_activation: type | None = None):
    from torch import nn

    layers: list = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(activation())
    if out_activation is not None:
        layers.append(out_activation())
    return nn.Sequential(*layers)


class _Replay:
    """The off-policy floors' replay: preallocated NumPy arrays, uniform sampling.

    Args:
        size: capacity, transitions.
        obs_dim: length of an observation.
        action_shape, action_dtype: one action's (``()`` and int64: a discrete index).
    """

    def __init__(self, size: int, obs_dim: int, action_shape: tuple = (), action_dtype=None):
        import numpy as np

        self.size = size
        self.obs = np.zeros((size, obs_dim), np.float32)
        self.next_obs = np.zeros((size, obs_dim), np.float32)
        self.actions = np.zeros((size, *action_shape), action_dtype or np.int64)
        self.rewards = np.zeros(size, np.float32)
        self.dones = np.zeros(size, np.float32)

    def add(self, step: int, obs, next_obs, action, reward: float, terminated: bool) -> None:
        """Store the transition of env step ``step`` (a ring: the oldest is overwritten)."""
        i = step % self.size
        self.obs[i], self.next_obs[i], self.actions[i] = obs, next_obs, action
        self.rewards[i], self.dones[i] = reward, terminated

    def sample(self, rng, step: int, batch: int) -> tuple:
        """``batch`` stored transitions, uniformly, as tensors: obs, actions, rewards, next
        observations, terminated flags."""
        import torch

        idx = rng.integers(0, min(step + 1, self.size), batch)
        arrays = (self.obs, self.actions, self.rewards, self.next_obs, self.dones)
        return tuple(torch.from_numpy(x[idx]) for x in arrays)


def floor_dqn(steps: int, seed: int) -> dict:
    """DQN, one env: epsilon-greedy, uniform replay, Huber TD loss, hard target copies."""
    import gymnasium as gym
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn

    c = DQN_ZOO
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=seed)
    q = _mlp([4, *c["hidden"], 2], nn.ReLU)
    target = copy.deepcopy(q)
    optimizer = torch.optim.Adam(q.parameters(), lr=c["learning_rate"], fused=True)
    replay = _Replay(min(c["buffer_size"], steps), 4)
    decay = c["exploration_fraction"] * steps
    started = time.perf_counter()
    for step in range(steps):
        eps = max(c["exploration_final_eps"], 1.0 - step / decay * (1 - c["exploration_final_eps"]))
        if step < c["learning_starts"] or rng.random() < eps:
            action = int(rng.integers(2))
        else:
            with torch.no_grad():
                action = int(q(torch.as_tensor(obs).unsqueeze(0)).argmax())
        next_obs, reward, terminated, truncated, _ = env.step(action)
        replay.add(step, obs, next_obs, action, reward, terminated)
        obs = env.reset()[0] if terminated or truncated else next_obs
        if step >= c["learning_starts"] and (step + 1) % c["train_freq"] == 0:
            for _ in range(c["gradient_steps"]):
                o, a, r, n, d = replay.sample(rng, step, c["batch_size"])
                with torch.no_grad():
                    td_target = r + c["gamma"] * (1 - d) * target(n).max(dim=1).values
                q_taken = q(o).gather(1, a.unsqueeze(1)).squeeze(1)
                loss = F.smooth_l1_loss(q_taken, td_target)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(q.parameters(), 10.0)
                optimizer.step()
        if (step + 1) % c["target_update_interval"] == 0:
            target.load_state_dict(q.state_dict())
    wall = time.perf_counter() - started
    return {"wall_time_s": wall, "sps": steps / wall}


def _rollout(
    envs,
    obs,
    policy,
    n_steps: int,
    gamma: float,
    gae_lambda: float,
    obs_shape: tuple = (4,),
    obs_dtype=None,
    clip_rewards: bool = False,
):
    """``n_steps`` steps of every env with actions sampled from ``policy`` (observations ->
    logits, values), then GAE advantages (PPO's and A2C's rollout). Returns the observations to
    continue from and the rollout as ``n_steps x num_envs`` rows: observations, actions, their
    log-probabilities, advantages and returns (advantages + values)."""
    import numpy as np
    import torch

    n_envs = envs.num_envs
    b_obs = torch.zeros(n_steps, n_envs, *obs_shape, dtype=obs_dtype or torch.float32)
    b_act = torch.zeros(n_steps, n_envs, dtype=torch.int64)
    b_logp, b_val = torch.zeros(n_steps, n_envs), torch.zeros(n_steps, n_envs)
    b_rew, b_done = torch.zeros(n_steps, n_envs), torch.zeros(n_steps, n_envs)
    done = torch.zeros(n_envs)
    for t in range(n_steps):
        o = torch.as_tensor(obs)
        with torch.no_grad():
            logits, value = policy(o)
            dist = torch.distributions.Categorical(logits=logits)
            action = dist.sample()
            b_logp[t], b_val[t] = dist.log_prob(action), value
        b_obs[t], b_act[t], b_done[t] = o, action, done
        obs, reward, terminated, truncated, _ = envs.step(action.numpy())
        b_rew[t] = torch.as_tensor(np.sign(reward) if clip_rewards else reward, dtype=torch.float32)
        done = torch.as_tensor(terminated | truncated, dtype=torch.float32)
    with torch.no_grad():
        next_value = policy(torch.as_tensor(obs))[1]
    advantages, last = torch.zeros(n_steps, n_envs), torch.zeros(n_envs)
    for t in reversed(range(n_steps)):
        not_done = 1.0 - (done if t == n_steps - 1 else b_done[t + 1])
        value_next = next_value if t == n_steps - 1 else b_val[t + 1]
        delta = b_rew[t] + gamma * value_next * not_done - b_val[t]
        last = delta + gamma * gae_lambda * not_done * last
        advantages[t] = last
    returns = advantages + b_val
    rows = (x.flatten() for x in (b_act, b_logp, advantages, returns))
    return (obs, b_obs.reshape(-1, *obs_shape), *rows)


def _decay(optimizer, c: dict, progress: float) -> float:
    """PPO's linear schedules: the learning rate of ``optimizer`` set to ``progress`` (1 -> 0)
    times ``c["learning_rate"]``; returns the clip range, ``progress * c["clip_range"]``."""
    for group in optimizer.param_groups:
        group["lr"] = c["learning_rate"] * progress
    return c["clip_range"] * progress


def _actor_critic(actor, critic):
    """Separate actor and critic networks as a rollout's policy: observations -> logits,
    values."""
    return lambda o: (actor(o), critic(o).squeeze(-1))


def _cartpole_actor_critic(c: dict, seed: int) -> tuple:
    """PPO's and A2C's start: ``c["num_envs"]`` CartPole-v1 envs in a SyncVectorEnv, reset with
    ``seed``, their first observations, and separate tanh actor and critic MLPs."""
    import gymnasium as gym
    import torch
    from torch import nn

    torch.manual_seed(seed)
    envs = gym.make_vec("CartPole-v1", num_envs=c["num_envs"], vectorization_mode="sync")
    obs, _ = envs.reset(seed=seed)
    actor = _mlp([4, *c["hidden"], 2], nn.Tanh)
    critic = _mlp([4, *c["hidden"], 1], nn.Tanh)
    return envs, obs, actor, critic


def floor_ppo(steps: int, seed: int) -> dict:
    """PPO on SyncVectorEnvs: separate actor and critic MLPs, GAE, clipped surrogate."""
    import torch
    from torch import nn

    c = PPO_ZOO
    n_envs, n_steps = c["num_envs"], c["n_steps"]
    envs, obs, actor, critic = _cartpole_actor_critic(c, seed)
    params = [*actor.parameters(), *critic.parameters()]
    optimizer = torch.optim.Adam(params, lr=c["learning_rate"], eps=1e-5, fused=True)
    rollouts = steps // (n_envs * n_steps)
    started = time.perf_counter()
    for k in range(rollouts):
        clip = _decay(optimizer, c, 1.0 - k / rollouts)
        obs, flat_obs, flat_act, flat_logp, flat_adv, returns = _rollout(
            envs, obs, _actor_critic(actor, critic), n_steps, c["gamma"], c["gae_lambda"]
        )
        size = n_steps * n_envs
        for _ in range(c["n_epochs"]):
            for start in range(0, size, c["batch_size"]):
                idx = torch.randperm(size)[start : start + c["batch_size"]]
                dist = torch.distributions.Categorical(logits=actor(flat_obs[idx]))
                ratio = (dist.log_prob(flat_act[idx]) - flat_logp[idx]).exp()
                adv = flat_adv[idx]
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                policy_loss = -torch.min(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv)
                value_loss = (critic(flat_obs[idx]).squeeze(-1) - returns[idx]).pow(2).mean()
                loss = policy_loss.mean() + 0.5 * value_loss
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(params, 0.5)
                optimizer.step()
    wall = time.perf_counter() - started
    return {"wall_time_s": wall, "sps": rollouts * n_envs * n_steps / wall}


def floor_a2c(steps: int, seed: int) -> dict:
    """A2C on SyncVectorEnvs: separate actor and critic MLPs, n-step returns (GAE with the
    preset's lambda), one RMSprop step on each whole rollout."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    c = A2C_ZOO
    n_envs, n_steps = c["num_envs"], c["n_steps"]
    envs, obs, actor, critic = _cartpole_actor_critic(c, seed)
    params = [*actor.parameters(), *critic.parameters()]
    optimizer = torch.optim.RMSprop(  # torch's RMSprop has no fused kernel
        params, lr=c["learning_rate"], alpha=0.99, eps=c["rms_prop_eps"], foreach=True
    )
    rollouts = steps // (n_envs * n_steps)
    started = time.perf_counter()
    for _ in range(rollouts):
        obs, flat_obs, flat_act, _, advantages, returns = _rollout(
            envs, obs, _actor_critic(actor, critic), n_steps, c["gamma"], c["gae_lambda"]
        )
        dist = torch.distributions.Categorical(logits=actor(flat_obs))
        policy_loss = -(advantages * dist.log_prob(flat_act)).mean()
        value_loss = F.mse_loss(critic(flat_obs).squeeze(-1), returns)
        entropy = dist.entropy().mean()
        loss = policy_loss - c["ent_coef"] * entropy + c["vf_coef"] * value_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(params, c["max_grad_norm"])
        optimizer.step()
    wall = time.perf_counter() - started
    return {"wall_time_s": wall, "sps": rollouts * n_envs * n_steps / wall}


def _mlp_flops(batch: int, sizes: list[int]) -> float:
    """Floating-point operations of an MLP's forward matmuls: 2 x batch x weights."""
    layers = zip(sizes[:-1], sizes[1:], strict=True)
    return 2.0 * batch * sum(n_in * n_out for n_in, n_out in layers)


def td3_update_flops(
    batch: int, obs_dim: int = 3, act_dim: int = 1, c: dict | None = None
) -> float:
    """Floating-point operations of one TD3 (or, with ``c=DDPG_ZOO``, DDPG) gradient step
    (matmuls only), averaged over the policy delay: target actor and the n target critics
    forward, the n critics forward and backward (backward = 2x forward); every ``policy_delay``
    steps the actor forward and backward through one critic."""
    c = c or TD3_ZOO
    actor = _mlp_flops(batch, [obs_dim, *c["hidden"], act_dim])
    critic = _mlp_flops(batch, [obs_dim + act_dim, *c["hidden"], 1])
    per_critic_step = actor + c["n_critics"] * (critic + 3 * critic)
    per_actor_step = 3 * (actor + critic)
    return per_critic_step + per_actor_step / c["policy_delay"]


def floor_td3(steps: int, seed: int, c: dict | None = None) -> dict:
    """TD3 on Pendulum-v1: Gaussian exploration noise, twin critics, delayed actor and Polyak
    target updates, target policy smoothing; ``c=DDPG_ZOO`` is DDPG (one critic, neither
    delay nor smoothing)."""
    import gymnasium as gym
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn

    c = c or TD3_ZOO
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    env = gym.make("Pendulum-v1")
    obs, _ = env.reset(seed=seed)
    scale = float(env.action_space.high[0])
    actor = _mlp([3, *c["hidden"], 1], nn.ReLU, nn.Tanh)
    critics = [_mlp([4, *c["hidden"], 1], nn.ReLU) for _ in range(c["n_critics"])]
    actor_target, critic_targets = copy.deepcopy(actor), [copy.deepcopy(q) for q in critics]
    actor_opt = torch.optim.Adam(actor.parameters(), lr=c["learning_rate"], fused=True)
    critic_params = [p for q in critics for p in q.parameters()]
    critic_opt = torch.optim.Adam(critic_params, lr=c["learning_rate"], fused=True)
    replay = _Replay(min(c["buffer_size"], steps), 3, (1,), np.float32)
    updates, update_time = 0, 0.0
    started = time.perf_counter()
    for step in range(steps):
        if step < c["learning_starts"]:
            action = rng.uniform(-1.0, 1.0, 1).astype(np.float32)
        else:
            with torch.no_grad():
                action = actor(torch.as_tensor(obs).unsqueeze(0))[0].numpy()
            noise = rng.normal(0.0, c["action_noise_std"], 1)
            action = np.clip(action + noise, -1.0, 1.0).astype(np.float32)
        next_obs, reward, terminated, truncated, _ = env.step(action * scale)
        replay.add(step, obs, next_obs, action, reward, terminated)
        obs = env.reset()[0] if terminated or truncated else next_obs
        if step < c["learning_starts"]:
            continue
        update_start = time.perf_counter()
        o, a, r, n, d = replay.sample(rng, step, c["batch_size"])
        with torch.no_grad():
            next_action = actor_target(n)
            if c["target_policy_noise"] > 0:
                smoothing = (torch.randn_like(a) * c["target_policy_noise"]).clamp(
                    -c["target_noise_clip"], c["target_noise_clip"]
                )
                next_action = (next_action + smoothing).clamp(-1.0, 1.0)
            next_in = torch.cat([n, next_action], dim=1)
            next_q = functools.reduce(torch.minimum, [q(next_in) for q in critic_targets])
            td_target = r + c["gamma"] * (1 - d) * next_q.squeeze(1)
        taken = torch.cat([o, a], dim=1)
        critic_loss = sum(F.mse_loss(q(taken).squeeze(1), td_target) for q in critics)
        critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        critic_opt.step()
        updates += 1
        if updates % c["policy_delay"] == 0:
            actor_loss = -critics[0](torch.cat([o, actor(o)], dim=1)).mean()
            actor_opt.zero_grad(set_to_none=True)
            actor_loss.backward()
            actor_opt.step()
            with torch.no_grad():
                pairs = [(actor, actor_target), *zip(critics, critic_targets, strict=True)]
                for net, net_target in pairs:
                    torch._foreach_lerp_(
                        list(net_target.parameters()), list(net.parameters()), c["tau"]
                    )
        update_time += time.perf_counter() - update_start
    wall = time.perf_counter() - started
    flops = td3_update_flops(c["batch_size"], c=c) * updates
    return {"wall_time_s": wall, "sps": steps / wall, "update_gflops": flops / update_time / 1e9}


def floor_ddpg(steps: int, seed: int) -> dict:
    """DDPG on Pendulum-v1: :func:`floor_td3` with DDPG's settings."""
    return floor_td3(steps, seed, DDPG_ZOO)


def sac_update_flops(batch: int, obs_dim: int = 3, act_dim: int = 1) -> float:
    """Floating-point operations of one SAC gradient step (matmuls only): the actor (its trunk
    and its mean and log-std heads) forward on the states and on the next states, two target
    critics forward, two critics forward and backward (backward = 2x forward), then the actor's
    loss: both critics forward on the fresh actions and backward to those actions only (their
    weights are frozen: 1x forward), and the actor backward. The entropy coefficient's step has
    no matmul."""
    hidden = SAC_ZOO["hidden"]
    actor = _mlp_flops(batch, [obs_dim, *hidden, 2 * act_dim])
    critic = _mlp_flops(batch, [obs_dim + act_dim, *hidden, 1])
    critic_step = 2 * critic + 2 * 3 * critic  # target critics; critics forward and backward
    actor_step = 2 * actor + 2 * 2 * critic + 2 * actor  # 2 forwards; critics there and back
    return critic_step + actor_step


def floor_sac(steps: int, seed: int) -> dict:
    """SAC on Pendulum-v1: squashed Gaussian actor, twin critics and their Polyak targets,
    learned entropy coefficient; one gradient step per env step."""
    import gymnasium as gym
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn

    c = SAC_ZOO
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    env = gym.make("Pendulum-v1")
    obs, _ = env.reset(seed=seed)
    scale = float(env.action_space.high[0])
    trunk = _mlp([3, *c["hidden"]], nn.ReLU, nn.ReLU)
    mean_head, log_std_head = nn.Linear(c["hidden"][-1], 1), nn.Linear(c["hidden"][-1], 1)
    critics = [_mlp([4, *c["hidden"], 1], nn.ReLU) for _ in range(2)]
    critic_targets = [copy.deepcopy(q).requires_grad_(False) for q in critics]
    actor_params = [*trunk.parameters(), *mean_head.parameters(), *log_std_head.parameters()]
    actor_opt = torch.optim.Adam(actor_params, lr=c["learning_rate"], fused=True)
    critic_params = [p for q in critics for p in q.parameters()]
    critic_opt = torch.optim.Adam(critic_params, lr=c["learning_rate"], fused=True)
    log_ent_coef = torch.zeros(1, requires_grad=True)  # ent_coef: auto, from 1.0
    ent_opt = torch.optim.Adam([log_ent_coef], lr=c["learning_rate"], fused=True)
    target_entropy = -1.0  # -dim(A)

    def gaussian(o):
        """The pre-tanh Gaussian at ``o``: its mean and log-std, ``(batch, 1)`` each."""
        features = trunk(o)
        return mean_head(features), log_std_head(features).clamp(-20.0, 2.0)

    def policy(o):
        """Squashed Gaussian actions in (-1, 1) at ``o`` and their log-probabilities."""
        mean, log_std = gaussian(o)
        noise = torch.randn_like(mean)
        pre_tanh = mean + log_std.exp() * noise
        log_det = 2.0 * (math.log(2.0) - pre_tanh - F.softplus(-2.0 * pre_tanh))  # tanh's
        log_prob = -0.5 * noise.pow(2) - log_std - 0.5 * math.log(2 * math.pi) - log_det
        return torch.tanh(pre_tanh), log_prob.sum(dim=1)

    replay = _Replay(min(c["buffer_size"], steps), 3, (1,), np.float32)
    updates, update_time = 0, 0.0
    started = time.perf_counter()
    for step in range(steps):
        if step < c["learning_starts"]:
            action = rng.uniform(-1.0, 1.0, 1).astype(np.float32)
        else:
            with torch.no_grad():
                mean, log_std = (x[0].numpy() for x in gaussian(torch.as_tensor(obs)[None]))
            noise = rng.standard_normal(1)
            action = np.tanh(mean + np.exp(log_std) * noise).astype(np.float32)
        next_obs, reward, terminated, truncated, _ = env.step(action * scale)
        replay.add(step, obs, next_obs, action, reward, terminated)
        obs = env.reset()[0] if terminated or truncated else next_obs
        if step < c["learning_starts"]:
            continue
        update_start = time.perf_counter()
        o, a, r, n, d = replay.sample(rng, step, c["batch_size"])
        actions_pi, log_prob = policy(o)  # its graph trains the actor below
        ent_coef = log_ent_coef.detach().exp()  # this step's, before its own update
        ent_loss = -(log_ent_coef * (log_prob.detach() + target_entropy)).mean()
        ent_opt.zero_grad(set_to_none=True)
        ent_loss.backward()
        ent_opt.step()
        with torch.no_grad():
            next_action, next_log_prob = policy(n)
            next_in = torch.cat([n, next_action], dim=1)
            next_q = torch.min(critic_targets[0](next_in), critic_targets[1](next_in)).squeeze(1)
            td_target = r + c["gamma"] * (1 - d) * (next_q - ent_coef * next_log_prob)
        taken = torch.cat([o, a], dim=1)
        critic_loss = 0.5 * sum(F.mse_loss(q(taken).squeeze(1), td_target) for q in critics)
        critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        critic_opt.step()
        for q in critics:  # the actor's loss moves the actions, not the critics
            q.requires_grad_(False)
        fresh = torch.cat([o, actions_pi], dim=1)
        min_q = torch.min(critics[0](fresh), critics[1](fresh)).squeeze(1)
        actor_loss = (ent_coef * log_prob - min_q).mean()
        actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward()
        actor_opt.step()
        for q in critics:
            q.requires_grad_(True)
        if updates % c["target_update_interval"] == 0:
            with torch.no_grad():
                for q, q_target in zip(critics, critic_targets, strict=True):
                    torch._foreach_lerp_(
                        list(q_target.parameters()), list(q.parameters()), c["tau"]
                    )
        updates += 1
        update_time += time.perf_counter() - update_start
    wall = time.perf_counter() - started
    flops = sac_update_flops(c["batch_size"]) * updates
    return {"wall_time_s": wall, "sps": steps / wall, "update_gflops": flops / update_time / 1e9}


def nature_cnn_flops(batch: int, n_actions: int) -> float:
    """Floating-point operations of the Nature CNN's forward (convolutions and linear layers,
    2 per multiply-add) on ``batch`` stacks of 4 84x84 frames, with policy and value heads."""
    convs = [(20 * 20, 32, 8 * 8 * 4), (9 * 9, 64, 4 * 4 * 32), (7 * 7, 64, 3 * 3 * 64)]
    macs = sum(positions * channels * kernel for positions, channels, kernel in convs)
    macs += 3136 * 512 + 512 * (n_actions + 1)
    return 2.0 * batch * macs


def floor_ppo_pong(steps: int, seed: int) -> dict:
    """PPO on Pong: 8 SyncVectorEnvs with gymnasium's AtariPreprocessing and frame stacking,
    one Nature CNN with policy and value heads, GAE, clipped surrogate, entropy bonus."""
    import ale_py
    import gymnasium as gym
    import torch
    from torch import nn

    c = PPO_ATARI
    n_envs, n_steps = c["num_envs"], c["n_steps"]
    gym.register_envs(ale_py)
    torch.manual_seed(seed)

    def make() -> gym.Env:
        env = gym.make("ALE/Pong-v5", frameskip=1, repeat_action_probability=0.25)
        env = gym.wrappers.AtariPreprocessing(env, noop_max=30, frame_skip=4, screen_size=84)
        return gym.wrappers.FrameStackObservation(env, 4)

    envs = gym.vector.SyncVectorEnv([make] * n_envs)
    obs, _ = envs.reset(seed=seed)
    n_actions = int(envs.single_action_space.n)
    body = nn.Sequential(
        nn.Conv2d(4, 32, 8, stride=4), nn.ReLU(), nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(), nn.Flatten(), nn.Linear(3136, 512), nn.ReLU(),
    )  # fmt: skip
    pi, v = nn.Linear(512, n_actions), nn.Linear(512, 1)
    params = [*body.parameters(), *pi.parameters(), *v.parameters()]
    optimizer = torch.optim.Adam(params, lr=c["learning_rate"], eps=1e-5, fused=True)

    def heads(frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = body(frames.float() / 255.0)
        return pi(features), v(features).squeeze(-1)

    rollouts = steps // (n_envs * n_steps)
    size = n_envs * n_steps
    update_time = 0.0
    started = time.perf_counter()
    for k in range(rollouts):
        clip = _decay(optimizer, c, 1.0 - k / rollouts)
        obs, flat_obs, flat_act, flat_logp, flat_adv, returns = _rollout(
            envs, obs, heads, n_steps, c["gamma"], c["gae_lambda"], (4, 84, 84), torch.uint8,
            clip_rewards=True,
        )  # fmt: skip
        update_start = time.perf_counter()
        for _ in range(c["n_epochs"]):
            order = torch.randperm(size)
            for start in range(0, size, c["batch_size"]):
                idx = order[start : start + c["batch_size"]]
                logits, value = heads(flat_obs[idx])
                dist = torch.distributions.Categorical(logits=logits)
                ratio = (dist.log_prob(flat_act[idx]) - flat_logp[idx]).exp()
                adv = flat_adv[idx]
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                policy_loss = -torch.min(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv)
                value_loss = (value - returns[idx]).pow(2).mean()
                loss = (policy_loss.mean() + c["vf_coef"] * value_loss
                        - c["ent_coef"] * dist.entropy().mean())  # fmt: skip
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(params, c["max_grad_norm"])
                optimizer.step()
        update_time += time.perf_counter() - update_start
    wall = time.perf_counter() - started
    # forward and backward of every minibatch (backward = 2x forward)
    flops = 3 * nature_cnn_flops(size, n_actions) * c["n_epochs"] * rollouts
    return {
        "wall_time_s": wall,
        "sps": rollouts * size / wall,
        "update_gflops": flops / update_time / 1e9,
    }


FLOORS = {
    "dqn": floor_dqn,
    "ppo": floor_ppo,
    "td3": floor_td3,
    "ddpg": floor_ddpg,
    "sac": floor_sac,
    "a2c": floor_a2c,
    "ppo_pong": floor_ppo_pong,
}


def matmul_peak_gflops(n: int = 1024, repeats: int = 20) -> float:
    """Single-thread float32 matmul throughput (the best of ``repeats`` n x n products)."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


# ------------------------------------------------------------------------------------ sides
def _child(payload: dict) -> None:
    """Run in a fresh process: one floor, or the matmul peak; prints its result as JSON."""
    import torch

    torch.set_num_threads(1)
    if payload["what"] == "peak":
        print(json.dumps({"gflops": matmul_peak_gflops()}))
    else:
        print(json.dumps(FLOORS[payload["what"]](payload["steps"], payload["seed"])))


def run_floor(what: str, steps: int, seed: int) -> dict:
    """A floor (or ``peak``) in a fresh process with one torch thread."""
    payload = json.dumps({"what": what, "steps": steps, "seed": seed})
    proc = subprocess.run(
        [sys.executable, __file__, "--child", payload],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if proc.returncode != 0:
        raise RuntimeError(f"floor {what} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_rl_lab(loop: Loop, impl: str, seed: int, run_dir: Path, *extra: str) -> dict:
    """``python -m rl_lab`` with the loop's overrides at its budget; its ``results.json``."""
    command = [sys.executable, "-m", "rl_lab", *loop.overrides, *extra, f"impl={impl}",
               f"seed={seed}", f"total_steps={loop.steps}", "eval.freq=0", "eval.final_episodes=1",
               "checkpointing.freq=0", "progress=false", "torch_threads=1", "device=cpu",
               f"hydra.run.dir={run_dir}"]  # fmt: skip
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{proc.stderr[-3000:]}")
    results = read_results(run_dir, required=True)
    return {"wall_time_s": results.wall_time_s, "sps": results.sps}


#: The loops whose agents take ``agent.mixed_precision`` (``--bf16``).
BF16_LOOPS = ("dqn", "ppo", "a2c", "td3", "ddpg", "sac", "ppo_pong")


def measure(loop: Loop, rounds: int, seed: int, work: Path, bf16: bool = False) -> None:
    """``rounds`` rounds of the three sides (four with ``bf16``: ours with
    ``agent.mixed_precision=true``), the order rotating from round to round."""
    sides = ["ours", "floor", "sb3"] + (["ours_bf16"] if bf16 and loop.name in BF16_LOOPS else [])
    for r in range(rounds):
        order = sides[r % len(sides) :] + sides[: r % len(sides)]
        for side in order:
            if side == "floor":
                row = run_floor(loop.name, loop.steps, seed)
            elif side == "ours_bf16":
                row = run_rl_lab(
                    loop, "rl_lab", seed, work / f"{loop.name}_{side}_{r}",
                    "agent.mixed_precision=true",
                )  # fmt: skip
            else:
                impl = "rl_lab" if side == "ours" else "sb3"
                row = run_rl_lab(loop, impl, seed, work / f"{loop.name}_{side}_{r}")
            loop.rows.setdefault(side, []).append(row)
            print(f"  {loop.name} round {r + 1} {side}: {row['sps']:,.0f} SPS", flush=True)


def _ratio(numerators: list[float], denominators: list[float]) -> str:
    """The median of the per-round ratios, and their range."""
    per_round = [x / y for x, y in zip(numerators, denominators, strict=True)]
    return f"{statistics.median(per_round):.2f} ({min(per_round):.2f}-{max(per_round):.2f})"


def table(measured: list[Loop], peak: float | None) -> str:
    """The Markdown table: median SPS per side, ratios with their per-round range."""
    lines = [
        "| loop | budget | ours SPS | floor SPS | SB3 SPS | ours / floor time | "
        "SB3 / floor time | ours / SB3 SPS |",
        "|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for loop in measured:
        sps = {side: [row["sps"] for row in rows] for side, rows in loop.rows.items()}
        lines.append(
            f"| {loop.name} | {loop.steps:,} | {statistics.median(sps['ours']):,.0f} | "
            f"{statistics.median(sps['floor']):,.0f} | {statistics.median(sps['sb3']):,.0f} | "
            f"{_ratio(sps['floor'], sps['ours'])} | {_ratio(sps['floor'], sps['sb3'])} | "
            f"{_ratio(sps['ours'], sps['sb3'])} |"
        )
        gflops = [row["update_gflops"] for row in loop.rows["floor"] if "update_gflops" in row]
        if gflops and peak:
            median = statistics.median(gflops)
            notes.append(
                f"- {loop.name} floor's gradient steps: {median:.1f} GFLOP/s "
                f"({median / peak:.0%} of the single-thread matmul peak, {peak:.1f} GFLOP/s)"
            )
        if "ours_bf16" in sps:
            notes.append(
                f"- {loop.name} with agent.mixed_precision=true (bfloat16 autocast): "
                f"{statistics.median(sps['ours_bf16']):,.0f} SPS, "
                f"{_ratio(sps['ours_bf16'], sps['ours'])} x float32's"
            )
    return "\n".join([*lines, "", *notes]) + "\n"


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child(json.loads(sys.argv[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loops", nargs="+", default=list(FLOORS), choices=FLOORS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dqn-steps", type=int, default=50_000)
    parser.add_argument("--ppo-steps", type=int, default=100_000)
    parser.add_argument(
        "--td3-steps", type=int, default=15_000, help="td3 and ddpg; 10k are random play"
    )
    parser.add_argument("--sac-steps", type=int, default=5_000, help="100 are random play")
    parser.add_argument("--a2c-steps", type=int, default=200_000)
    parser.add_argument("--pong-steps", type=int, default=8_192, help="8 rollouts of 1,024")
    parser.add_argument("--out", type=Path, help="write report.md and report.json here")
    parser.add_argument("--smoke", action="store_true", help="tiny budgets, one round")
    parser.add_argument(
        "--bf16",
        action="store_true",
        help="also ours with agent.mixed_precision=true (a CPU with AVX-512 BF16 or AMX)",
    )
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.dqn_steps, args.ppo_steps, args.td3_steps = 1, 1_500, 2_048, 10_200
        args.sac_steps, args.a2c_steps, args.pong_steps = 300, 2_000, 1_024
    budgets = (args.dqn_steps, args.ppo_steps, args.td3_steps, args.sac_steps, args.a2c_steps,
               args.pong_steps)  # fmt: skip
    chosen = [loops(*budgets)[n] for n in args.loops]
    machine = describe_machine()
    print(f"Machine: {machine}", flush=True)
    compute_bound = {"td3", "ddpg", "sac", "ppo_pong"} & set(args.loops)
    peak = run_floor("peak", 0, 0)["gflops"] if compute_bound else None
    with tempfile.TemporaryDirectory(prefix="bench_floors") as work:
        for loop in chosen:
            measure(loop, args.rounds, args.seed, Path(work), args.bf16)
    command = "python scripts/bench_floors.py " + " ".join(sys.argv[1:])
    text = (
        f"# Each loop against its floor ({time.strftime('%Y-%m-%d')})\n\n"
        f"`{command}` on {machine}; {args.rounds} round(s), one torch thread per process, "
        "medians over rounds (per-round range).\n\n" + table(chosen, peak)
    )
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.md").write_text(text)
        raw = {loop.name: {"steps": loop.steps, **loop.rows} for loop in chosen}
        info = {"machine": machine_info(), "command": command, "matmul_peak_gflops": peak}
        (args.out / "report.json").write_text(json.dumps({**info, "loops": raw}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
