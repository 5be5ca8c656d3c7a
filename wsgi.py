"""The WSGI entry point: ``gunicorn wsgi:app``."""

from controlplane import create_app

app = create_app()
