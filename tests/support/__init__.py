"""Real services the tests start themselves: PostgreSQL, and later SMTP and gunicorn."""
