import pytest
import torch
from torch import nn

from rl_lab.nets.heads import DuelingQHead, QHead


def test_q_head_is_one_linear() -> None:
    head = QHead(16, 4)
    features = torch.randn(5, 16)
    assert head(features).shape == (5, 4)
    torch.testing.assert_close(head(features), head.q(features))
    assert head.output_layers() == [head.q]


@pytest.mark.parametrize("hidden", [None, 32])
def test_dueling_mean_advantage_is_zero(hidden: int | None) -> None:
    torch.manual_seed(0)
    head = DuelingQHead(16, 6, hidden=hidden)
    features = torch.randn(7, 16)
    q = head(features)
    assert q.shape == (7, 6)
    value = head.value(features)  # (7, 1)
    torch.testing.assert_close((q - value).mean(dim=1), torch.zeros(7), atol=1e-6, rtol=0)
    # The Q-values still vary across actions (the advantage stream is not ignored).
    assert (q.std(dim=1) > 0).all()


def test_dueling_hidden_layers() -> None:
    head = DuelingQHead(8, 3, hidden=32)
    for stream, out in ((head.value, 1), (head.advantage, 3)):
        assert [type(m) for m in stream] == [nn.Linear, nn.ReLU, nn.Linear]
        assert stream[0].out_features == 32 and stream[-1].out_features == out
    assert head.output_layers() == [head.value[-1], head.advantage[-1]]
    assert len(DuelingQHead(8, 3).value) == 1
