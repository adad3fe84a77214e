import math

import pytest
import torch

from lungseg_core.learning.losses import IGNORED, LOSSES, build_loss


def test_bce_matches_hand_value():
    logits = torch.zeros(1, 1, 2, 2)  # p = 0.5 everywhere -> BCE = ln 2
    target = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])
    assert float(build_loss("bce")(logits, target)) == pytest.approx(math.log(2), rel=1e-5)


def test_dice_and_jaccard_on_perfect_and_wrong_predictions():
    target = torch.zeros(1, 1, 8, 8)
    target[..., :4, :] = 1
    perfect = (target * 2 - 1) * 50  # confident and right
    wrong = -perfect
    for name in ("dice", "jaccard"):
        loss = build_loss(name)
        assert float(loss(perfect, target)) < 0.01
        assert float(loss(wrong, target)) > 0.95


def test_sums_add_their_terms():
    logits = torch.randn(2, 1, 8, 8)
    target = (torch.rand(2, 1, 8, 8) > 0.5).float()
    parts = {n: float(build_loss(n)(logits, target)) for n in ("bce", "dice", "jaccard")}
    assert float(build_loss("bce_jaccard_dice")(logits, target)) == pytest.approx(sum(parts.values()), rel=1e-5)
    assert float(build_loss("bce_jaccard")(logits, target)) == pytest.approx(parts["bce"] + parts["jaccard"], rel=1e-5)


def test_every_loss_backpropagates():
    for name in LOSSES:
        logits = torch.randn(1, 1, 8, 8, requires_grad=True)
        build_loss(name)(logits, torch.ones(1, 1, 8, 8)).backward()
        assert logits.grad is not None and torch.isfinite(logits.grad).all()


def test_unknown_loss_lists_valid_names():
    with pytest.raises(KeyError, match="bce_jaccard_dice"):
        build_loss("focal")


def test_ignored_pixels_teach_nothing_and_the_rest_is_the_plain_loss():
    """A replayed base film's spared zone (`convention_replay`): no term learns there."""
    torch.manual_seed(0)
    target = (torch.rand(2, 1, 8, 8) > 0.5).float()
    logits = torch.randn(2, 1, 8, 8)
    plain = {n: float(build_loss(n)(logits, target)) for n in LOSSES}
    bce = float(torch.nn.functional.binary_cross_entropy_with_logits(logits, target))
    assert plain["bce"] == pytest.approx(bce, rel=1e-6)  # no ignored pixel: torch's BCE exactly
    spared = target.clone()
    spared[..., :3, :] = IGNORED
    for name in LOSSES:
        x = logits.clone().requires_grad_(True)
        build_loss(name)(x, spared).backward()
        assert torch.all(x.grad[..., :3, :] == 0), name
        assert x.grad[..., 3:, :].abs().sum() > 0, name
    # what the model draws in the ignored rows does not change the loss
    flipped = logits.clone()
    flipped[..., :3, :] *= -5
    for name in LOSSES:
        assert float(build_loss(name)(flipped, spared)) == pytest.approx(float(build_loss(name)(logits, spared)),
                                                                          rel=1e-5), name
