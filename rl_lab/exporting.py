"""Trained models that leave rl_lab: ONNX or TorchScript files of the greedy policy, the
classifier or the GAN generator, runnable without rl_lab (onnxruntime, or ``torch.jit.load``).

What each file computes (inputs and outputs are named in the ONNX graph):

- RL agents: ``obs`` (a batch of raw env observations; float32, uint8 for Atari frames) →
  ``action`` (the greedy action, in the env's units: int64 for ``Discrete``, int64
  ``(batch, dims)`` for ``MultiDiscrete``, float32 clipped to the bounds for ``Box``).
  Observation normalisation is folded in, with the training run's frozen statistics. Recurrent
  policies take ``state`` and return ``state_out`` (zeros start an episode; the layout is
  ``(n_cores, 2, num_layers, batch, hidden)``). DQN also returns ``q_values``.
- Classifiers: ``images`` ``(N, C, H, W)`` float32 in ``[0, 1]`` → ``logits``, ``label``.
- GAN generators: ``z`` ``(N, latent_dim)`` (and ``labels`` ``(N,)`` int64 for a conditional
  GAN) → ``images`` ``(N, C, H, W)`` float32 in ``[0, 1]``.

The batch dimension is dynamic in every file.
"""

from __future__ import annotations

import copy
import importlib.util
import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch
from torch import Tensor, nn

from rl_lab.errors import ConfigError
from rl_lab.rl.normalization import EPSILON, OBS_CLIP

if TYPE_CHECKING:
    from rl_lab.rl.policies import ActorCriticPolicy

log = logging.getLogger(__name__)

#: Export formats and the suffix of their files.
FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}


_ModuleT = TypeVar("_ModuleT", bound=nn.Module)


def _detached(module: _ModuleT) -> _ModuleT:
    """A copy with parameters of its own (rl_lab's flat-parameter views are not exportable)."""
    clone = copy.deepcopy(module).cpu().eval()
    for param in clone.parameters():
        param.data = param.data.clone()
        param.requires_grad_(False)
    return clone


class ObsNormalization(nn.Module):
    """``clip((obs - mean) / sqrt(var + eps), -10, 10)``, the frozen training statistics."""

    mean: Tensor  # buffers, registered in __init__
    scale: Tensor

    def __init__(self, mean: np.ndarray, var: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        scale = 1 / np.sqrt(np.asarray(var, dtype=np.float64) + EPSILON)
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))

    def forward(self, obs: Tensor) -> Tensor:
        return ((obs - self.mean) * self.scale).clamp(-OBS_CLIP, OBS_CLIP)


class _DQNPolicy(nn.Module):
    def __init__(self, q_net: nn.Module, norm: nn.Module) -> None:
        super().__init__()
        self.q_net, self.norm = q_net, norm

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        q_values = self.q_net(self.norm(obs))
        return q_values.argmax(dim=1), q_values


class _ToBounds(nn.Module):
    # an ActionScaling as buffers: actions in [-1, 1] → the Box bounds
    bias: Tensor  # buffers, registered in __init__
    scale: Tensor
    low: Tensor
    high: Tensor

    def __init__(self, scaling: Any) -> None:
        super().__init__()
        for name in ("bias", "scale", "low", "high"):
            value = np.asarray(getattr(scaling, name), dtype=np.float32).reshape(-1)
            self.register_buffer(name, torch.as_tensor(value))

    def forward(self, scaled: Tensor) -> Tensor:
        return torch.minimum(torch.maximum(self.bias + self.scale * scaled, self.low), self.high)


class _ScaledActorPolicy(nn.Module):
    # TD3/DDPG/SAC: the actor's greedy action in [-1, 1], rescaled to the Box bounds
    def __init__(self, actor: nn.Module, norm: nn.Module, scaling: Any) -> None:
        super().__init__()
        self.actor, self.norm, self.to_bounds = actor, norm, _ToBounds(scaling)

    def forward(self, obs: Tensor) -> Tensor:
        return self.to_bounds(self.actor(self.norm(obs).float()))


class _ActorCriticPolicy(nn.Module):
    low: Tensor  # buffers of a continuous policy, registered in __init__
    high: Tensor
    start: Tensor | None  # a MultiDiscrete space's first values, where not all 0

    def __init__(
        self,
        policy: ActorCriticPolicy,
        norm: nn.Module,
        bounds: Any,
        start: Any = None,
        scaling: Any = None,
    ) -> None:
        super().__init__()
        self.policy, self.norm = policy, norm
        self.continuous = bounds is not None
        # a squashed policy's actions in [-1, 1] → the bounds, as the agent's ActionScaling
        self.to_bounds = _ToBounds(scaling) if scaling is not None else None
        if bounds is not None:
            self.register_buffer("low", torch.as_tensor(bounds[0], dtype=torch.float32))
            self.register_buffer("high", torch.as_tensor(bounds[1], dtype=torch.float32))
        if start is not None:
            self.register_buffer("start", torch.as_tensor(start, dtype=torch.int64))
        else:
            self.start = None

    def _action(self, actor: Tensor) -> Tensor:
        return self._greedy(self.policy.action_head(actor))

    def _greedy(self, dist: Any) -> Tensor:
        # the mode: argmax of each categorical (MultiDiscrete: of each dimension), the mean
        # clipped to the bounds, or a squashed policy's tanh(mean) scaled to them
        if self.continuous:
            if self.to_bounds is not None:  # squashed: the mode is tanh(mean)
                return self.to_bounds(dist.mode())
            return torch.minimum(torch.maximum(dist.mean, self.low), self.high)
        return dist.mode() if self.start is None else dist.mode() + self.start

    def forward(self, obs: Tensor) -> Tensor:
        actor, _ = self.policy._features(0, self.norm(obs), None, None)
        return self._action(actor)


class _RecurrentPolicy(_ActorCriticPolicy):
    def forward(self, obs: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        dist, _, new_state = self.policy(self.norm(obs), state)
        return self._greedy(dist), new_state


class _Classifier(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        logits = self.model(images)
        return logits, logits.argmax(dim=1)


class _Generator(nn.Module):
    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        from rl_lab.gan.sampling import to_unit

        return to_unit(self.generator(z, labels))


def exportable(model: Any) -> tuple[nn.Module, dict[str, Tensor], list[str]]:
    """The module to export for a model of :func:`rl_lab.load`, an example of its inputs (by
    name) and the names of its outputs."""
    from rl_lab.api import Agent, Classifier, GanGenerator

    if isinstance(model, Agent):
        return _agent_module(model)
    if isinstance(model, Classifier):
        example = torch.rand(2, *model.image_shape)
        return _Classifier(_detached(model.model)), {"images": example}, ["logits", "label"]
    if isinstance(model, GanGenerator):
        inputs = {"z": torch.randn(2, model.generator.latent_dim)}
        if model.num_classes is not None:
            inputs["labels"] = torch.zeros(2, dtype=torch.int64)
        return _Generator(_detached(model.generator)), inputs, ["images"]
    raise TypeError(f"cannot export a {type(model).__name__}")


def _agent_module(agent: Any) -> tuple[nn.Module, dict[str, Tensor], list[str]]:
    inner = agent.policy
    space = agent.observation_space
    norm: nn.Module = nn.Identity()
    if agent.normalizer is not None:
        norm = ObsNormalization(agent.normalizer.mean, agent.normalizer.var)
    sample = np.stack([space.sample() for _ in range(2)])
    dtype = torch.uint8 if sample.dtype == np.uint8 else torch.float32
    obs = torch.as_tensor(sample.astype(np.uint8 if dtype == torch.uint8 else np.float32))
    name = str(agent.config.agent.name)
    if hasattr(inner, "q_net"):
        return _DQNPolicy(_detached(inner.q_net), norm), {"obs": obs}, ["action", "q_values"]
    if hasattr(inner, "actor") and hasattr(inner, "scaling"):
        module: nn.Module = _ScaledActorPolicy(_detached(inner.actor), norm, inner.scaling)
        return module, {"obs": obs}, ["action"]
    if hasattr(inner, "policy") and hasattr(inner, "initial_state"):
        policy = _detached(inner.policy)
        bounds, start = getattr(inner, "_bounds", None), getattr(inner, "_start", None)
        scaling = getattr(inner, "_scaling", None)
        if getattr(inner, "recurrent", False):
            state = inner.initial_state(2).cpu()
            module = _RecurrentPolicy(policy, norm, bounds, start, scaling)
            return module, {"obs": obs, "state": state}, ["action", "state_out"]
        module = _ActorCriticPolicy(policy, norm, bounds, start, scaling)
        return module, {"obs": obs}, ["action"]
    raise ConfigError(
        f"agent {name} cannot be exported: only rl_lab's own agents (dqn, td3, ddpg, sac, a2c, "
        "ppo, ppo_lstm, reinforce) have a policy network rl_lab can write out; an SB3 run's "
        "model is saved by SB3 itself."
    )


def export(model: Any, path: str | Path, fmt: str = "onnx") -> Path:
    """Write ``model`` (from :func:`rl_lab.load`) to ``path`` as ``fmt`` (``onnx`` or
    ``torchscript``); returns the path.

    Raises:
        ConfigError: an unknown format, or a model that cannot be exported.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"format={fmt} is not an export format; use one of {', '.join(FORMATS)}.")
    if fmt == "onnx" and importlib.util.find_spec("onnx") is None:
        raise ConfigError(
            "format=onnx needs the onnx package, which torch's exporter writes the file with: "
            "`pip install onnx` (or `pip install -e '.[export]'`), or use format=torchscript."
        )
    module, inputs, outputs = exportable(model)
    module.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    args = tuple(inputs.values())
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # exporters' notes on tracing and deprecations
        if fmt == "torchscript":
            torch.jit.trace(module, args, check_trace=False).save(str(path))
        else:
            batch = {name: {_batch_axis(name): "batch"} for name in [*inputs, *outputs]}
            torch.onnx.export(
                module,
                args,
                str(path),
                input_names=list(inputs),
                output_names=outputs,
                dynamic_axes=batch,
                dynamo=False,
            )
    return path


def _batch_axis(name: str) -> int:
    # recurrent state: (n_cores, 2, num_layers, batch, hidden)
    return 3 if name.startswith("state") else 0


def real_inputs(model: Any, n: int = 64, seed: int = 0) -> dict[str, Tensor]:
    """Inputs to check an exported file on: an RL agent's observations from greedy play of its
    own env (from ``reset(seed=seed)``), random images or noise for the other models."""
    from rl_lab.api import Agent

    module, example, _ = exportable(model)
    if not isinstance(model, Agent):
        generator = torch.Generator().manual_seed(seed)
        inputs = {}
        for name, value in example.items():
            if name == "labels":  # a conditional GAN's classes
                inputs[name] = torch.randint(0, int(model.num_classes), (n,), generator=generator)
            elif name == "z":
                inputs[name] = torch.randn((n, *value.shape[1:]), generator=generator)
            else:  # images in [0, 1]
                inputs[name] = torch.rand((n, *value.shape[1:]), generator=generator)
        return inputs
    from rl_lab.rl.envs import make_env

    env = make_env(model.env_config)
    observations, state = [], None
    try:
        obs, _ = env.reset(seed=seed)
        for _ in range(n):
            observations.append(obs)
            action, state = model.predict(obs, state=state)
            obs, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                obs, _ = env.reset()
                state = None
    finally:
        env.close()
    batch = np.stack(observations)
    inputs = {"obs": torch.as_tensor(batch.astype(example["obs"].numpy().dtype))}
    if "state" in example:
        inputs["state"] = model.policy.initial_state(n).cpu()
    return inputs


def check_export(model: Any, path: str | Path, fmt: str, n: int = 64) -> dict[str, Any]:
    """Run the exported file on ``n`` real inputs next to rl_lab's own module.

    Returns:
        ``{"inputs": n, "max_abs_diff": ..., "same_discrete_outputs": ...}`` (discrete outputs:
        actions, labels), or ``{"skipped": reason}`` when onnxruntime is not installed.
    """
    module, _, outputs = exportable(model)
    inputs = real_inputs(model, n)
    with torch.no_grad():
        expected = module(*inputs.values())
    expected = [expected] if isinstance(expected, Tensor) else list(expected)
    if fmt == "onnx":
        try:
            import onnxruntime
        except ImportError:
            return {"skipped": "onnxruntime is not installed (pip install onnxruntime)"}
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(None, {k: v.numpy() for k, v in inputs.items()})
    else:
        loaded = torch.jit.load(str(path))
        with torch.no_grad():
            result = loaded(*inputs.values())
        got = [r.numpy() for r in ([result] if isinstance(result, Tensor) else result)]
    diff, relative, same = 0.0, 0.0, True
    for want, have in zip(expected, got, strict=True):
        want = want.numpy()
        if want.dtype.kind in "iub":
            same &= bool(np.array_equal(want, have))
        else:
            error = np.abs(want - have)
            diff = max(diff, float(error.max()))
            # relative to the output's size (at least 1): float32 rounding of Q-values near 100
            relative = max(relative, float((error / np.maximum(np.abs(want), 1.0)).max()))
    return {
        "inputs": n,
        "outputs": outputs,
        "max_abs_diff": diff,
        "max_rel_diff": relative,
        "same_discrete_outputs": same,
    }
