"""``backprop explain``: backpropagation shown step by step.

``expr``: the computation graph of a scalar expression, its forward values and the adjoints
reverse mode accumulates (note 000). ``layers``: one example's forward and backward pass
through a config's network, layer by layer, with the engine's own layers.
"""
