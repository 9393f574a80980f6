"""CPU probe (session 29, issue #8's ListOps miss): does a small encoder get past LRA's ~37% plateau on short trees,
where length and the attention pattern cannot be the limit? LRA's generator (zoo.data.listops) with lengths 20 to
MAXLEN, 40,000 training trees, 2,000 test trees; encoder_small_<PATTERN>.listops cut to dim 128, depth 4, 4 heads;
AdamW lr 1e-3, batch 32, fp32, two threads, for MINUTES. Usage (from anywhere):
python benchmarks/jobs/cpu_listops_short.py MAXLEN MINUTES PATTERN  (session 29: 200 12 dense;
benchmarks/listops_short_cpu.json)."""
import collections
import os
import random
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # the tree's root
from zoo.data.listops import encode, generate  # noqa: E402
from zoo.registry import create_model  # noqa: E402

torch.manual_seed(0); torch.set_num_threads(2)
MAXLEN, MINUTES, PATTERN = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
def data(n, seed):
    xs, ys = [], []
    for s in generate(n, seed, min_length=20, max_length=MAXLEN):
        xs.append(encode(s["source"])); ys.append(s["label"])
    return xs, ys
t0 = time.time()
trx, try_ = data(40000, 1); tex, tey = data(2000, 3)
print("data", round(time.time() - t0), "s; labels", sorted(collections.Counter(tey).items()),
      "majority", max(collections.Counter(tey).values()) / len(tey), "mean len", sum(map(len, tex)) / len(tex), flush=True)
m = create_model(f"encoder_small_{PATTERN}.listops", max_seq_len=MAXLEN, dim=128, depth=4, num_heads=4, dropout=0.0)
opt = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=0.01)
def batch(xs, idx):
    n = max(len(xs[i]) for i in idx)
    ids = torch.zeros(len(idx), n, dtype=torch.long); am = torch.zeros(len(idx), n, dtype=torch.bool)
    for r, i in enumerate(idx):
        ids[r, :len(xs[i])] = torch.tensor(xs[i]); am[r, :len(xs[i])] = True
    return ids, am
def acc():
    m.eval(); ok = 0
    with torch.no_grad():
        for s in range(0, len(tex), 100):
            ids, am = batch(tex, range(s, min(s + 100, len(tex))))
            out = m(ids, attention_mask=am)
            logits = out["logits"] if isinstance(out, dict) else out.logits
            ok += (logits.argmax(-1) == torch.tensor(tey[s:s + 100])).sum().item()
    m.train(); return ok / len(tex)
step, t0 = 0, time.time()
while time.time() - t0 < MINUTES * 60:
    idx = random.sample(range(len(trx)), 32)
    ids, am = batch(trx, idx)
    out = m(ids, attention_mask=am, labels=torch.tensor([try_[i] for i in idx]))
    loss = out["loss"] if isinstance(out, dict) else out.loss
    opt.zero_grad(); loss.backward(); opt.step(); step += 1
    if step % 500 == 0:
        print(step, round(time.time() - t0), "s loss", round(loss.item(), 3), "acc", acc(), flush=True)
print("final", step, acc(), flush=True)
