"""The folder `--trace-compute` puts on a traced program's PYTHONPATH (its sitecustomize)."""
