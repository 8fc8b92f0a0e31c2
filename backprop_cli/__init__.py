"""backprop: train, check and understand small neural networks from YAML configs.

The library is what the CLI calls: ``backprop_cli.train("configs/xor.yaml")`` does what
``backprop train configs/xor.yaml`` does. The names below load their modules on first use,
so ``import backprop_cli`` (and ``backprop --help``) stays light.
"""
__version__ = "0.1.0"

#: public name -> the module that defines it (loaded on first use)
_LAZY = {
    "train": "api", "setup": "api", "gradcheck": "api", "load_run": "api", "load_config": "api",
    "RunResult": "api", "Setup": "api",
    "evaluate": "scoring", "predict": "scoring", "export": "exporting",  # needs the extra 'export'
    "run_sweep": "sweep", "collect": "sweep",
    "BackpropClassifier": "sklearn", "BackpropRegressor": "sklearn",  # need the extra 'sklearn'
    "ConfigError": "errors", "DataError": "errors",
}
__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'backprop_cli' has no attribute {name!r}")
    from importlib import import_module
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
