"""Sanity: the tiny predictive branch fits two fixed samples."""

from __future__ import annotations

import torch

from dpt_core.losses import l1_loss
from dpt_core.models import PredictiveBranch


def test_predictive_overfits_two_samples(tiny, iuv_factory, image_factory) -> None:
    torch.manual_seed(0)
    net = PredictiveBranch.from_config(tiny)
    size = tiny.image_size
    source, target = image_factory(2, size, 10), image_factory(2, size, 11)
    src_iuv, tgt_iuv = iuv_factory(2, size, 12), iuv_factory(2, size, 13)
    optimiser = torch.optim.Adam(net.parameters(), lr=2e-3)
    history = []
    for _ in range(40):
        optimiser.zero_grad()
        loss = l1_loss(net(source, src_iuv, tgt_iuv).image, target)
        loss.backward()
        optimiser.step()
        history.append(loss.item())
    assert history[-1] < 0.5 * history[0], history[::10]
