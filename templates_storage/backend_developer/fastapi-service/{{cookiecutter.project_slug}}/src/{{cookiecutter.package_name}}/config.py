"""Typed settings, read from environment variables (prefix APP_) and an optional .env file."""

from functools import lru_cache
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="APP_", env_file=".env", extra="ignore")

    service_name: str = "{{ cookiecutter.project_slug }}"
    environment: Literal["local", "dev", "staging", "prod"] = "local"
    host: str = "0.0.0.0"  # noqa: S104 - containers must listen on all interfaces
    port: int = {{ cookiecutter.port }}
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True
    cors_origins: list[str] = []


@lru_cache
def get_settings() -> Settings:
    return Settings()
