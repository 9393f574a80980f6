"""Rows appended as copies (kernels/appended.py): gradients equal torch.cat's autograd, the input's
gradient is the appended gradient's own first rows (no whole-size copy), expanded gradients work."""
import pytest
import torch

from zoo.attention.kernels.appended import append_repeats, append_rows


@pytest.mark.parametrize("mode", ["rows", "repeats"])
def test_gradients_equal_cat_and_reuse_the_buffer(mode):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 37, 8, generator=g, dtype=torch.float64, requires_grad=True)
    index = torch.tensor([3, 11, 19, 27, 35])
    if mode == "rows":
        y, want = append_rows(x, index), torch.cat([x, x.index_select(2, index)], 2)
    else:
        y, want = append_repeats(x, 4, 3), torch.cat([x, x[:, :, :4].repeat(1, 1, 3, 1)], 2)
    assert torch.equal(y, want)
    w = torch.randn(want.shape, generator=g, dtype=torch.float64)
    seen = {}
    y.register_hook(lambda grad: seen.update(ptr=grad.data_ptr()))  # returns None: the gradient unchanged
    gx, = torch.autograd.grad((y * w).sum(), x)  # y's gradient is fresh (w * 1), as FlexAttention's is
    assert torch.allclose(gx, torch.autograd.grad((want * w).sum(), x)[0], rtol=0, atol=1e-12)
    assert gx.data_ptr() == seen["ptr"]  # a view of the appended gradient: nothing whole-size copied


def test_expanded_gradient_and_no_copies():
    x = torch.randn(1, 2, 10, 4, requires_grad=True)
    append_rows(x, torch.tensor([0, 9])).sum().backward()  # the gradient of a sum is expanded (stride 0)
    want = torch.ones(1, 2, 10, 4)
    want[:, :, [0, 9]] = 2
    assert torch.equal(x.grad, want)
    assert append_repeats(x, 4, 0) is x
