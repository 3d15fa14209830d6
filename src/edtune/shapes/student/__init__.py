"""The tiny base student of the shapes world: tiny models from config, the tokenizer trained on world text,
pre-training, measuring, and the shipped asset (`ensure_base_student`)."""
