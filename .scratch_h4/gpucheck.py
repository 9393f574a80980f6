import time, torch, zoo
dev = "cuda"
for n in zoo.list_models(size="tiny"):
    try:
        m = zoo.create_model(n).to(dev); b = m.dummy_inputs(2)
        o = m(**b); o["loss"].backward()
        miss = [k for k, p in m.named_parameters() if p.grad is None]
        r = f"loss={o['loss'].item():.3f} miss={miss}"
        if m.family in ("lm", "pixel", "captioner") and "lsh" not in n:
            m.eval()
            if m.family == "pixel":
                m = zoo.create_model(n, image_size=4).to(dev).eval()
                eq = torch.equal(m.sample(2, temperature=0.0), m.sample(2, temperature=0.0, use_cache=False))
            elif m.family == "lm":
                bb = m.dummy_inputs(2, seq_len=8)
                eq = torch.equal(m.generate(bb, 16), m.generate(bb, 16, use_cache=False))
            else:
                eq = torch.equal(m.generate(b, 7, num_beams=2), m.generate(b, 7, num_beams=2, use_cache=False))
            r += f" gen_eq={eq}"
        print(n, r, flush=True)
    except Exception as e:
        print("ERR", n, type(e).__name__, str(e)[:400], flush=True)
for n in ["pixel_small_strided.cifar10", "lm_small_longformer", "encoder_small_longformer.listops", "encoder_small_lsh.listops", "encoder_small_anchor.listops", "captioner_small_bigbird.easyvqa", "vqa_small_bigbird.easyvqa", "pixel_small_fixed.cifar10", "lm_small_lsh.enwik8"]:
    try:
        m = zoo.create_model(n).to(dev); b = m.dummy_inputs(2)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            o = m(**b)
        o["loss"].backward(); torch.cuda.synchronize()
        t = time.time()
        for _ in range(3):
            with torch.autocast("cuda", dtype=torch.bfloat16):
                o = m(**b)
            o["loss"].backward()
        torch.cuda.synchronize()
        print(n, f"bf16 fwd+bwd B=2 {(time.time()-t)/3*1000:.1f} ms loss={o['loss'].item():.3f}", flush=True)
    except Exception as e:
        print("ERR", n, type(e).__name__, str(e)[:400], flush=True)
