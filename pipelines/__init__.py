"""KFP v2 pipelines of edtune; compiled YAML lives in pipelines/compiled/ and is checked against a fresh compile."""
