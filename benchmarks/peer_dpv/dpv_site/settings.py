"""Settings of the django-phone-verify peer: its documented set-up, production-style.

``phone_verify`` with its DRF router, on SQLite in WAL mode (``synchronous=NORMAL``, as
senderid's SQLite), persistent connections, ``DEBUG`` off, JSON only, no access log.
The endpoints are public (``AllowAny`` in django-phone-verify), so no authentication
class runs. The SMS backend is :class:`dpv_site.sms.FixedCodeBackend`: nothing is sent
and every code is ``DPV_CODE``, checked like any other code.

Environment: ``DPV_DATABASE`` (the SQLite file), ``DPV_SECRET_KEY`` (signs the session
tokens), ``DPV_CODE`` (default ``111111``).
"""

import os

SECRET_KEY = os.environ["DPV_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "phonenumber_field",
    "phone_verify",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "dpv_site.urls"
WSGI_APPLICATION = "dpv_site.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["DPV_DATABASE"],
        "CONN_MAX_AGE": None,
        "OPTIONS": {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
            "timeout": 20,
        },
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = False

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
}

PHONE_VERIFICATION = {
    "BACKEND": "dpv_site.sms.FixedCodeBackend",
    "OPTIONS": {"CODE": os.environ.get("DPV_CODE", "111111")},
    "TOKEN_LENGTH": 6,
    "MESSAGE": "Welcome to {app}! Please use security code {security_code} to proceed.",
    "APP_NAME": "Phone Verify",
    "SECURITY_CODE_EXPIRATION_SECONDS": 600,
    "VERIFY_SECURITY_CODE_ONLY_ONCE": True,
    "MAX_FAILED_ATTEMPTS": 5,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}
