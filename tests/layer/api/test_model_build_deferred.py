"""Every request and response model defers building its validator and serializer to its first
use: pydantic otherwise builds them as the class is defined, and a function's cold start would
pay for the other models of the modules it imports (a create function for the list's)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from pydantic import BaseModel

import notify_bindings.api.requests
import notify_bindings.api.responses


def models() -> list[type[BaseModel]]:
    found = []
    for package in (notify_bindings.api.requests, notify_bindings.api.responses):
        for module_info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{module_info.name}")
            found += [
                value
                for value in vars(module).values()
                if isinstance(value, type)
                and issubclass(value, BaseModel)
                and value.__module__ == module.__name__
            ]
    return found


def test_the_request_and_response_modules_hold_models():
    assert len(models()) >= 20


@pytest.mark.parametrize("model", models(), ids=lambda model: model.__qualname__)
def test_a_model_is_built_at_its_first_use_not_at_import(model):
    assert model.model_config.get("defer_build") is True
