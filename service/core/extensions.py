"""Extensions, created unbound and bound to the app in ``create_app``."""

from __future__ import annotations

from flask_compress import Compress
from flask_cors import CORS
from flask_limiter import Limiter
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

from service.core.client import client_address


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
api = Api()
cors = CORS()
compress = Compress()
# Used for its storage and strategy (service.rate_limits checks the comment limit itself):
# an empty request identity makes its per-request check skip every route at once.
limiter = Limiter(
    key_func=client_address,
    default_limits=[],
    strategy="fixed-window",
    request_identifier=lambda: "",
)
