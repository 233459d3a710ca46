"""EventPulse benchmarks: `python -m benchmarks` measures ingest and persistence rates.

Not tests: they print a table comparing each product rate with a raw baseline measured in the
same run, and write it to benchmarks/RESULTS.md. See benchmarks/README.md.
"""
