from ablations import coolant  # noqa: F401
from ablations import baselines  # noqa: F401
from ablations import novemofake  # noqa: F401
