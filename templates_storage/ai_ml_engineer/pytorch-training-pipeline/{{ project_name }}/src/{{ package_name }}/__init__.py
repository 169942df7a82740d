"""{{ project_name }}: PyTorch training pipeline."""
