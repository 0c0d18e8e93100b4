import math

import pytest
import torch
import torch.nn.functional as F

from lit_vision.nn.complex import FCCNLoss, fccn_loss

Z = torch.tensor([[1 + 1j, -2 + 0j, 3j], [0.5 - 0.5j, 1 + 0j, -1 - 1j]], dtype=torch.complex64)
Y = torch.tensor([2, 0])


def hand_cross_entropy() -> float:
    """CE on magnitudes, written out: mean_b(log sum_k exp|z_bk| - |z_b,y_b|)."""
    rows = [([math.sqrt(2), 2.0, 3.0], 2), ([math.sqrt(0.5), 1.0, math.sqrt(2)], 0)]
    return sum(math.log(sum(math.exp(s) for s in scores)) - scores[y] for scores, y in rows) / 2


def test_official_loss_on_hand_made_input():
    out = FCCNLoss()(Z, Y)
    # angle(3i) = pi/2, angle(0.5 - 0.5i) = -pi/4; the mean runs over B*K = 6 entries
    phase_mean = (math.pi / 2 - math.pi / 4) / 6
    assert out.magnitude.item() == pytest.approx(hand_cross_entropy(), abs=1e-6)
    assert out.phase.item() == pytest.approx(-phase_mean, abs=1e-6)
    assert out.loss.item() == pytest.approx((hand_cross_entropy() - phase_mean) / 2, abs=1e-6)


def test_official_formula_in_torch_terms():
    torch.manual_seed(0)
    z, y = torch.randn(8, 10, dtype=torch.complex64), torch.randint(0, 10, (8,))
    phase_mean = (F.one_hot(y, 10) * torch.angle(z)).mean()
    expected = (F.cross_entropy(z.abs(), y) - phase_mean) / 2
    torch.testing.assert_close(fccn_loss(z, y).loss, expected)
    torch.testing.assert_close(fccn_loss(z, y).phase, -torch.angle(z)[torch.arange(8), y].sum() / 80)


def test_lambda_and_cosine_variant():
    ce = hand_cross_entropy()
    assert fccn_loss(Z, Y, lambda_phase=0.0).loss.item() == pytest.approx(ce / 2, abs=1e-6)
    out = fccn_loss(Z, Y, lambda_phase=0.5, phase="cosine")
    cosine = ((1 - math.cos(math.pi / 2)) + (1 - math.cos(-math.pi / 4))) / 2
    assert out.phase.item() == pytest.approx(cosine, abs=1e-6)
    assert out.loss.item() == pytest.approx((ce + 0.5 * cosine) / 2, abs=1e-6)


def test_angle_term_jumps_at_branch_cut_cosine_does_not():
    y = torch.tensor([0])
    above = torch.tensor([[-1 + 1e-4j, 1 + 0j]], dtype=torch.complex64)
    below = torch.tensor([[-1 - 1e-4j, 1 + 0j]], dtype=torch.complex64)
    jump = fccn_loss(above, y).loss - fccn_loss(below, y).loss
    assert jump.abs().item() == pytest.approx(2 * math.pi / 2 / 2, abs=1e-3)  # 2pi / K, halved
    smooth = fccn_loss(above, y, phase="cosine").loss - fccn_loss(below, y, phase="cosine").loss
    assert smooth.abs().item() < 1e-6


def test_soft_one_hot_targets_equal_hard_labels_and_4d_logits():
    soft = F.one_hot(Y, 3).float()
    for phase in ("angle", "cosine"):
        hard_out, soft_out = fccn_loss(Z, Y, phase=phase), fccn_loss(Z[..., None, None], soft, phase=phase)
        for a, b in zip(hard_out, soft_out):
            torch.testing.assert_close(a, b)


def test_gradients_reach_magnitude_and_phase():
    z = Z.clone().requires_grad_(True)
    fccn_loss(z, Y).loss.backward()
    assert torch.isfinite(torch.view_as_real(z.grad)).all() and z.grad.abs().sum() > 0


def test_errors():
    with pytest.raises(TypeError, match=r"FCCNLoss expects complex logits of shape \(B, K\), got torch.float32"):
        fccn_loss(Z.abs(), Y)
    with pytest.raises(ValueError, match=r"class indices of shape \(2,\)"):
        fccn_loss(Z, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="phase='sine'"):
        FCCNLoss(phase="sine")
