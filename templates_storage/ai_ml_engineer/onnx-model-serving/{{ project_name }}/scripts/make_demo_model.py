"""Write models/model.onnx with the demo softmax-regression model."""

import sys

from {{ package_name }}.demo_model import build_demo_model

if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else "models/model.onnx"
    print(f"wrote {build_demo_model(target)}")
