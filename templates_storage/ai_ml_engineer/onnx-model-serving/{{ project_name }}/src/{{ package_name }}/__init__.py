"""{{ project_name }}: ONNX model inference over HTTP."""

__version__ = "0.1.0"
