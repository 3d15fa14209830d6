"""Thin KFP v2 components over `edtune.stages`: parse inputs, call one stage function, write artifacts."""
