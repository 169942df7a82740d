import mlflow
import pandas as pd
import pytest
from predict import score
from train import TrainArgs, parse_args, train


@pytest.mark.parametrize("model", ["random_forest", "logistic_regression"])
def test_run_logs_params_metrics_and_model(model):
    run_id = train(TrainArgs(model=model, n_estimators=20))
    run = mlflow.get_run(run_id)
    assert run.data.params["model"] == model
    assert run.data.metrics["accuracy"] > 0.85
    assert "roc_auc" in run.data.metrics

    loaded = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    sample = pd.DataFrame(loaded.input_example)
    assert len(loaded.predict(sample)) == len(sample)


def test_csv_with_categorical_column(tmp_path):
    frame = pd.DataFrame(
        {
            "tenure": list(range(40)) * 2,
            "plan": ["basic", "pro"] * 40,
            "churned": [0] * 40 + [1] * 40,
        }
    )
    frame.loc[frame.index >= 40, "tenure"] += 100
    path = tmp_path / "train.csv"
    frame.to_csv(path, index=False)
    run_id = train(TrainArgs(data_path=str(path), target="churned", n_estimators=10))
    scored = score(f"runs:/{run_id}/model", frame.drop(columns=["churned"]).head(5))
    assert "prediction" in scored.columns


def test_registration():
    train(TrainArgs(model="logistic_regression", register=True))
    versions = mlflow.MlflowClient().search_model_versions("name='{{ cookiecutter.registered_model_name }}'")
    assert len(versions) == 1


def test_cli_parsing():
    args = parse_args(["--model", "gradient_boosting", "--register", "true", "--n-estimators", "5"])
    assert args.model == "gradient_boosting" and args.register and args.n_estimators == 5
