"""Training: recipe schema (schema.py), the DeepSpeed engine loop (engine.py), checkpoints and
exact resume (checkpoint.py, data.py), evaluation during training (evaluate.py), logs
(logging.py) and the `zoo train` / `zoo export` commands (cli.py, export.py).

    zoo train recipes/easyvqa/vqa_small_bigbird.yaml
    deepspeed --num_gpus 8 --module zoo.train recipes/cifar10/pixel_base_strided.yaml
"""
