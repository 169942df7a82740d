"""Batch scoring with any logged or registered model.

    python src/predict.py --model-uri models:/{{ cookiecutter.registered_model_name }}/latest --input new.csv
"""

from __future__ import annotations

import argparse
import os

import mlflow
import pandas as pd


def score(model_uri: str, frame: pd.DataFrame) -> pd.DataFrame:
    model = mlflow.pyfunc.load_model(model_uri)
    out = frame.copy()
    out["prediction"] = model.predict(frame)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-uri", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", default="predictions.csv")
    args = parser.parse_args()
    mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", "{{ cookiecutter.tracking_uri }}"))
    score(args.model_uri, pd.read_csv(args.input)).to_csv(args.output, index=False)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
