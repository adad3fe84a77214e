"""Training data, augmentation, losses, training, evaluation and retraining jobs."""
