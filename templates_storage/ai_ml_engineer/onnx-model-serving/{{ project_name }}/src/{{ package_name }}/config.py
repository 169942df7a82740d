from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Environment variables, prefixed with MODEL_ / SERVER_ as below."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", protected_namespaces=())

    model_path: str = "models/model.onnx"
    model_name: str = "{{ model_name }}"
    model_version: str = "1"
    max_batch_size: int = {{ max_batch_size }}
    intra_op_threads: int = 0  # 0 lets ONNX Runtime choose
    port: int = {{ port }}


@lru_cache
def get_settings() -> Settings:
    return Settings()
