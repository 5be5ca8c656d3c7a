"""Flask extensions, created unbound here and bound by :func:`controlplane.app.create_app`."""

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from controlplane.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
