"""Flask extensions, created unbound and attached in ``create_app`` with ``init_app``."""

from __future__ import annotations

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

login_manager = LoginManager()
csrf = CSRFProtect()
# No default limits: only the routes that ask for one (failed logins) are throttled.
limiter = Limiter(key_func=get_remote_address)
