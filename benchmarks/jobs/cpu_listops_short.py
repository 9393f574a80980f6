"""CPU probe (session 29, issue #8's ListOps miss): does a small encoder get past LRA's ~37% plateau on short trees,
where length and the attention pattern cannot be the limit? LRA's generator (zoo.data.listops) with lengths 20 to
MAXLEN, 40,000 training trees, 2,000 test trees; encoder_small_<PATTERN>.listops cut to dim 128, depth 4, 4 heads;
AdamW lr 1e-3, batch 32, fp32, two threads, for MINUTES. Usage (from anywhere):
python benchmarks/jobs/cpu_listops_short.py MAXLEN MINUTES PATTERN  (session 29: 200 12 dense;
benchmarks/listops_short_cpu.json)."""
import collections
import json
import os
import random
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # the tree's root
from zoo.data.decode import ListOpsDecoder, collate  # noqa: E402
from zoo.data.listops import generate  # noqa: E402
from zoo.registry import create_model  # noqa: E402


def data(n: int, seed: int, decode: ListOpsDecoder) -> list[dict]:
    """n trees as the training pipeline decodes them: input_ids / attention_mask (MAXLEN,), labels."""
    return [decode({"txt": s["source"].encode(), "json": json.dumps({"label": s["label"]})}, None)[0]
            for s in generate(n, seed, min_length=20, max_length=MAXLEN)]


def batch(items: list[dict]) -> dict:
    """collate, cut to the longest real sequence of the batch (the trees are far shorter than MAXLEN)."""
    b = collate(items)
    n = int(b["attention_mask"].sum(1).max())
    return {"input_ids": b["input_ids"][:, :n], "attention_mask": b["attention_mask"][:, :n], "labels": b["labels"]}


def accuracy(model, test: list[dict]) -> float:
    model.eval()
    ok = 0
    with torch.no_grad():
        for s in range(0, len(test), 100):
            b = batch(test[s:s + 100])
            labels = b.pop("labels")
            ok += (model(**b)["logits"].argmax(-1) == labels).sum().item()
    model.train()
    return ok / len(test)


if __name__ == "__main__":
    MAXLEN, MINUTES, PATTERN = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    torch.manual_seed(0)
    torch.set_num_threads(2)
    t0 = time.time()
    decode = ListOpsDecoder(MAXLEN)
    train, test = data(40000, 1, decode), data(2000, 3, decode)
    counts = collections.Counter(int(t["labels"]) for t in test)
    print("data", round(time.time() - t0), "s; labels", sorted(counts.items()), "majority",
          max(counts.values()) / len(test), "mean len", sum(int(t["attention_mask"].sum()) for t in test) / len(test),
          flush=True)
    model = create_model(f"encoder_small_{PATTERN}.listops", max_seq_len=MAXLEN, dim=128, depth=4, num_heads=4,
                         dropout=0.0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    step, t0 = 0, time.time()
    while time.time() - t0 < MINUTES * 60:
        loss = model(**batch(random.sample(train, 32)))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 500 == 0:
            print(step, round(time.time() - t0), "s loss", round(loss.item(), 3), "acc", accuracy(model, test), flush=True)
    print("final", step, accuracy(model, test), flush=True)
