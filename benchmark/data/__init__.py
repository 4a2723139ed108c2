"""Datasets: the NewsItem schema, adapters for each published format, validation and the synthetic set."""
