"""Training: runtime set-up (seeds, devices), the batch path, and the train/evaluate loop."""
