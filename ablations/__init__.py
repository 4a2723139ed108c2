from ablations import coolant  # noqa: F401
