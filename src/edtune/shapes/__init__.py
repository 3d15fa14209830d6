"""edtune.shapes: the offline harness, not the product.

Everything here exists only because no model hub or image dataset is reachable from our machines: the shapes world
(scenes, question families, target tasks, the support pool, pre-training streams), the reference teacher and its
noise profiles, the tiny students built from config, the tiny base student (pre-training, measuring, tokenizer, the
shipped asset) and the demo. The harness imports the product; no product module imports the harness, except the
CLI's list of harness command groups (`edtune.cli.HARNESS_AREAS`).
"""
