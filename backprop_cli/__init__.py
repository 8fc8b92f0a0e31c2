"""backprop: train, check and understand small neural networks from YAML configs.

The library is what the CLI calls: ``backprop_cli.train("configs/xor.yaml")`` does what
``backprop train configs/xor.yaml`` does.
"""
__version__ = "0.1.0"


def __getattr__(name):  # keep `import backprop_cli` (and `backprop --help`) light
    if name in ("train", "gradcheck", "load_config", "setup"):
        from . import api
        return getattr(api, name)
    if name in ("evaluate", "predict"):
        from . import scoring
        return getattr(scoring, name)
    if name in ("run_sweep", "collect"):
        from . import sweep
        return getattr(sweep, name)
    raise AttributeError(name)
