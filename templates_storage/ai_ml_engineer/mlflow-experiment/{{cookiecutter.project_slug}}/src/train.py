"""Train a scikit-learn classifier and track everything in MLflow.

    python src/train.py --model {{ cookiecutter.model_type }}
    python src/train.py --data-path data/train.csv --target churned --register true
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

import mlflow
import pandas as pd
from mlflow.models import infer_signature
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

EXPERIMENT = os.environ.get("MLFLOW_EXPERIMENT_NAME", "{{ cookiecutter.experiment_name }}")
REGISTERED_MODEL = "{{ cookiecutter.registered_model_name }}"
DEFAULT_TRACKING_URI = "{{ cookiecutter.tracking_uri }}"


@dataclass
class TrainArgs:
    model: str = "{{ cookiecutter.model_type }}"
    data_path: str = ""
    target: str = "target"
    test_size: float = 0.2
    n_estimators: int = 200
    max_depth: int = 8
    c: float = 1.0
    seed: int = 42
    register: bool = False


def load_data(args: TrainArgs) -> tuple[pd.DataFrame, pd.Series]:
    """A CSV with a label column, or scikit-learn's bundled breast-cancer data as a stand-in."""
    if args.data_path:
        frame = pd.read_csv(args.data_path)
        return frame.drop(columns=[args.target]), frame[args.target]
    data = load_breast_cancer(as_frame=True)
    return data.data, data.target


def build_pipeline(args: TrainArgs, features: pd.DataFrame) -> Pipeline:
    numeric = features.select_dtypes("number").columns.tolist()
    categorical = [c for c in features.columns if c not in numeric]
    preprocess = ColumnTransformer(
        [
            ("num", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), numeric),
            ("cat", Pipeline([
                ("impute", SimpleImputer(strategy="most_frequent")),
                ("onehot", OneHotEncoder(handle_unknown="ignore")),
            ]), categorical),
        ]
    )
    if args.model == "random_forest":
        estimator = RandomForestClassifier(
            n_estimators=args.n_estimators, max_depth=args.max_depth, random_state=args.seed, n_jobs=-1
        )
    elif args.model == "gradient_boosting":
        estimator = GradientBoostingClassifier(
            n_estimators=args.n_estimators, max_depth=min(args.max_depth, 5), random_state=args.seed
        )
    elif args.model == "logistic_regression":
        estimator = LogisticRegression(C=args.c, max_iter=2000)
    else:
        raise ValueError(f"unknown model {args.model!r}")
    return Pipeline([("preprocess", preprocess), ("model", estimator)])


def train(args: TrainArgs) -> str:
    """Runs one experiment and returns the MLflow run id."""
    mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI))
    mlflow.set_experiment(EXPERIMENT)

    features, labels = load_data(args)
    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=args.test_size, random_state=args.seed, stratify=labels
    )
    pipeline = build_pipeline(args, features)

    with mlflow.start_run(run_name=args.model) as run:
        mlflow.set_tags({"model_family": args.model, "data": args.data_path or "sklearn:breast_cancer"})
        mlflow.log_params(
            {
                "model": args.model,
                "test_size": args.test_size,
                "n_estimators": args.n_estimators,
                "max_depth": args.max_depth,
                "c": args.c,
                "seed": args.seed,
                "n_train": len(x_train),
                "n_features": features.shape[1],
            }
        )
        pipeline.fit(x_train, y_train)
        predictions = pipeline.predict(x_test)
        metrics = {
            "accuracy": accuracy_score(y_test, predictions),
            "f1_macro": f1_score(y_test, predictions, average="macro"),
        }
        if labels.nunique() == 2:
            metrics["roc_auc"] = roc_auc_score(y_test, pipeline.predict_proba(x_test)[:, 1])
        mlflow.log_metrics(metrics)
        mlflow.log_dict(
            {"labels": sorted(labels.unique().tolist()), "matrix": confusion_matrix(y_test, predictions).tolist()},
            "confusion_matrix.json",
        )
        signature = infer_signature(x_train, pipeline.predict(x_train))
        mlflow.sklearn.log_model(
            sk_model=pipeline,
            name="model",
            # Our own pipeline is a trusted artifact. MLflow 3.17+ defaults to skops, which needs an
            # explicit allow-list of every sklearn type in the pipeline; cloudpickle works for any
            # estimator. Use serialization_format="skops" with skops_trusted_types for models
            # whose provenance you do not control.
            serialization_format="cloudpickle",
            signature=signature,
            input_example=x_train.head(3),
            registered_model_name=REGISTERED_MODEL if args.register else None,
        )
        print(f"run {run.info.run_id}: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
        return run.info.run_id


def parse_args(argv: list[str] | None = None) -> TrainArgs:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=TrainArgs.model,
                        choices=["random_forest", "gradient_boosting", "logistic_regression"])
    parser.add_argument("--data-path", default="")
    parser.add_argument("--target", default="target")
    parser.add_argument("--test-size", type=float, default=0.2)
    parser.add_argument("--n-estimators", type=int, default=200)
    parser.add_argument("--max-depth", type=int, default=8)
    parser.add_argument("--c", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--register", default="false", choices=["true", "false"])
    ns = parser.parse_args(argv)
    return TrainArgs(
        model=ns.model, data_path=ns.data_path, target=ns.target, test_size=ns.test_size,
        n_estimators=ns.n_estimators, max_depth=ns.max_depth, c=ns.c, seed=ns.seed,
        register=ns.register == "true",
    )


if __name__ == "__main__":
    train(parse_args())
