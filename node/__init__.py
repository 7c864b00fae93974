"""The node program and its runtime: `python -m node --id n1 --service NAME ...`."""
