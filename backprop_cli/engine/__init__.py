"""The NumPy engine: parameters, layers, activations, losses, initializers, networks, gradcheck.

Modules here import only NumPy (and each other), so the engine can be read and reused alone.
"""
