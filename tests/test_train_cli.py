"""`zoo train` as a process: it tears its process group down at exit (NCCL warns of a leaked
group otherwise), also when training raises."""
from __future__ import annotations

import argparse

import pytest
import torch.distributed as dist

from zoo.train import cli


def _fake_train(fail: bool):
    def train(recipe, **kw):
        dist.init_process_group("gloo", init_method="tcp://127.0.0.1:0", rank=0, world_size=1)
        if fail:
            raise RuntimeError("boom")

        class Result:
            signal = None
        return Result()
    return train


@pytest.mark.parametrize("fail", [False, True])
def test_train_cli_destroys_its_process_group(monkeypatch, fail):
    from zoo.train import engine

    if dist.is_initialized():
        pytest.skip("another test left a process group in this process")
    monkeypatch.setattr(engine, "train", _fake_train(fail))
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["recipes/easyvqa/vqa_small_dense.yaml"])
    if fail:
        with pytest.raises(RuntimeError, match="boom"):
            cli.run(args)
    else:
        assert cli.run(args) == 0
    assert not dist.is_initialized()
