"""The network zoo: building blocks, heads, initialisation and config builders.

Map:

- :mod:`~rl_lab.nets.activations` — ``ACTIVATIONS`` registry, :func:`make_activation`.
- :mod:`~rl_lab.nets.dense` — :class:`MLP` encoder for vector (or flattened) observations.
- :mod:`~rl_lab.nets.conv` — :class:`NatureCNN` encoder for stacked frames (Mnih et al. 2015),
  :func:`conv_output_size`; the DCGAN blocks :class:`UpBlock`, :class:`DownBlock`,
  :class:`ConvStack` and :func:`dcgan_stages`.
- :mod:`~rl_lab.nets.recurrent` — :class:`LSTMCore`, an LSTM that resets at episode starts;
  :class:`LSTMEncoder`, which reads a sequence (an image row by row) into one feature vector.
- :mod:`~rl_lab.nets.heads` — :class:`QHead`, :class:`DuelingQHead` (Wang et al. 2016), and the
  policy heads :class:`CategoricalHead`, :class:`MultiCategoricalHead`, :class:`GaussianHead`,
  :class:`SquashedGaussianHead`, :class:`StateDependentNoiseHead` (gSDE).
- :mod:`~rl_lab.nets.distributions` — :class:`Categorical`, :class:`DiagGaussian`,
  :class:`SquashedDiagGaussian`, :class:`StateDependentGaussian` and
  :class:`SquashedStateDependentGaussian` action distributions returned by the policy heads.
- :mod:`~rl_lab.nets.init` — :func:`init_weights` (orthogonal, kaiming, xavier, default),
  :func:`init_output_layers` for a head's final layers.
- :mod:`~rl_lab.nets.build` — ``ENCODERS`` / ``HEADS`` registries, :func:`build_encoder`,
  :func:`build_head`, :func:`build_q_network` and :class:`QNetwork`.
"""

from rl_lab.nets.activations import ACTIVATIONS, make_activation
from rl_lab.nets.build import (
    ENCODERS,
    HEADS,
    QNetwork,
    build_encoder,
    build_head,
    build_q_network,
)
from rl_lab.nets.conv import (
    ConvStack,
    DownBlock,
    NatureCNN,
    UpBlock,
    conv_output_size,
    dcgan_stages,
)
from rl_lab.nets.dense import MLP, NORMS
from rl_lab.nets.distributions import (
    Categorical,
    DiagGaussian,
    MultiCategorical,
    SquashedDiagGaussian,
    SquashedStateDependentGaussian,
    StateDependentGaussian,
)
from rl_lab.nets.heads import (
    CategoricalHead,
    DuelingQHead,
    GaussianHead,
    MultiCategoricalHead,
    QHead,
    SquashedGaussianHead,
    StateDependentNoiseHead,
)
from rl_lab.nets.init import INIT_SCHEMES, init_output_layers, init_weights, output_layers
from rl_lab.nets.recurrent import LSTMCore, LSTMEncoder, LSTMState

__all__ = [
    "ACTIVATIONS",
    "ENCODERS",
    "HEADS",
    "INIT_SCHEMES",
    "MLP",
    "NORMS",
    "Categorical",
    "CategoricalHead",
    "ConvStack",
    "DiagGaussian",
    "DownBlock",
    "DuelingQHead",
    "GaussianHead",
    "LSTMCore",
    "LSTMEncoder",
    "LSTMState",
    "MultiCategorical",
    "MultiCategoricalHead",
    "NatureCNN",
    "QHead",
    "QNetwork",
    "SquashedDiagGaussian",
    "SquashedGaussianHead",
    "SquashedStateDependentGaussian",
    "StateDependentGaussian",
    "StateDependentNoiseHead",
    "UpBlock",
    "build_encoder",
    "build_head",
    "build_q_network",
    "conv_output_size",
    "dcgan_stages",
    "init_output_layers",
    "init_weights",
    "make_activation",
    "output_layers",
]
