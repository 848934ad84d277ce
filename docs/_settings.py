"""The Django settings the docs build imports ``livepush`` under (see ``conf.py``)."""

SECRET_KEY = "docs-build-only-not-a-secret"
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "livepush"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
USE_TZ = True
