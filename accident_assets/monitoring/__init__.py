"""Monitoring: drift of new feature partitions against the rows the champion was trained on."""
