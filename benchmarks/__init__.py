"""edtune benchmarks: throughput scripts, the data-efficiency study and the ablations (`python -m benchmarks.<name>`)."""
