"""Training: configuration and profiles, the methods, the training loop, evaluation and run folders."""
