"""Fixtures of the web tests: an app per test, a client, a world of workspaces, users and tokens."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from platform_jobs.settings import get_settings
from platform_jobs.web import create_app
from tests.support.web import LiveServer, World, make_world


def build_app(**overrides: object) -> Flask:
    config = {"TESTING": True, "LOGIN_RATE_LIMIT": "5 per minute"}
    config.update(overrides)
    return create_app(get_settings(), config)


@pytest.fixture
def app() -> Flask:
    return build_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.fixture(scope="module")
def live_server() -> Iterator[LiveServer]:
    server = LiveServer(build_app(LOGIN_RATE_LIMIT="100 per minute"))
    yield server
    server.stop()
