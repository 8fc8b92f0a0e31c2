"""Training: optimizers, callbacks (stopping, metrics), the trainer loop."""
