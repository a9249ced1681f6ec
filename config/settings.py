"""One settings file. Every value that differs between a laptop and a server comes
from the environment; the defaults run locally (SQLite, DEBUG on)."""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)

# A development key is only acceptable while DEBUG is on; a server must set its own.
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise RuntimeError("生产环境必须设置环境变量 SECRET_KEY")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "evaluations.apps.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "import_export",
    "simple_history",
    "evaluations.apps.AxesConfig",
    "evaluations.apps.TasksConfig",
    "evaluations",
    "indicators",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files from STATIC_ROOT, also under gunicorn with DEBUG off.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Writes the idle expiry at most once a minute (SESSION_SAVE_EVERY_REQUEST is off).
    "evaluations.sessions.IdleExpiryMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Who the user is (roles, units, districts): read once per request.
    "evaluations.roles.ScopePerRequest",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Field history records who made each change.
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "evaluations.todo.context",
            ],
        },
    },
]

# SQLite is the embedded default so a bare machine runs the app; DATABASE_URL
# (postgres://…) selects PostgreSQL, as in CI and production.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Writers take SQLite's lock when their transaction starts, so two requests that both
    # write (a save and the session's sliding expiry) wait for each other instead of
    # one failing with "database is locked" halfway through.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Django's ModelBackend, with the per-request user lookup in one plain SELECT.
    "evaluations.login.AccountBackend",
]

# Login throttling: five wrong passwords for one username from one address lock
# that pair out for 15 minutes. A success clears the count.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("AXES_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# How many reverse proxies (nginx …) stand before the app: the client address for
# login throttling is read from X-Forwarded-For only that far (evaluations.access).
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
AXES_CLIENT_IP_CALLABLE = "evaluations.login.client_address"
# The login forms refuse usernames longer than an account's; axes reads them cut to that.
AXES_USERNAME_CALLABLE = "evaluations.login.login_username"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文")]
# Chinese for what Django and the installed packages leave in English (the admin).
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
# With DEBUG off the files are served by WhiteNoise from STATIC_ROOT (run
# `collectstatic` first): names carry a hash of the content, so browsers may keep
# them for a year, and gzip and brotli copies are made once. With DEBUG on they are
# served from the source folders as they are.
# Uploaded files (佐证材料) go through Django's storage API: a local folder by default,
# an S3-compatible store (several machines) with FILE_STORAGE=s3. They are never
# given a public URL: every download passes the access check (evaluations.evidence).
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
# Bulk exports (the PDFs of a year, drawn once per version of a form, and their zips) go
# through the storage "exports": the folder EXPORT_ROOT by default, the same S3-compatible
# store as 佐证材料 with FILE_STORAGE=s3 (under S3_PREFIX/exports/). Workers on several
# machines and the web server that hands out the zip must all see it: a shared mount of
# EXPORT_ROOT, or the store.
EXPORT_ROOT = Path(os.environ.get("EXPORT_ROOT", BASE_DIR / "exports"))
if os.environ.get("FILE_STORAGE", "local") == "s3":
    S3_OPTIONS = {
        "bucket_name": os.environ.get("S3_BUCKET", ""),
        "endpoint_url": os.environ.get("S3_ENDPOINT_URL") or None,
        "region_name": os.environ.get("S3_REGION") or None,
        "access_key": os.environ.get("S3_ACCESS_KEY_ID") or None,
        "secret_key": os.environ.get("S3_SECRET_ACCESS_KEY") or None,
        "default_acl": "private",
        "querystring_auth": True,
        # A file read back (a download, a PDF copied into a zip) is spooled to a
        # temporary file past this size, not held in memory: zips run to hundreds of MB.
        "max_memory_size": 5 * 1024 * 1024,
    }
    S3_PREFIX = os.environ.get("S3_PREFIX", "").strip("/")
    FILE_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {**S3_OPTIONS, "location": S3_PREFIX, "file_overwrite": False},
    }
    # Names are fixed by content (a PDF's fingerprint) or by job (its zip): a second
    # upload of a name is the same file again, and an upload is whole or absent.
    EXPORT_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            **S3_OPTIONS,
            "location": f"{S3_PREFIX}/exports" if S3_PREFIX else "exports",
            "file_overwrite": True,
        },
    }
    del S3_OPTIONS, S3_PREFIX
else:
    # In MEDIA_ROOT; there is no MEDIA_URL: nothing serves the folder as it is.
    FILE_STORAGE = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    # In EXPORT_ROOT, read when used; written under a temporary name and moved into place.
    EXPORT_STORAGE = {"BACKEND": "evaluations.export_storage.ExportFolderStorage"}
STORAGES = {
    "default": FILE_STORAGE,
    "exports": EXPORT_STORAGE,
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Read once at start in production; looked up in the source folders per request
# while developing (and in the tests, which switch DEBUG off at run time).
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Sessions end when the browser closes and after two idle hours: these are shared
# office computers. The idle expiry is written at most once a minute, not on every
# request (evaluations/sessions.py).
SESSION_ENGINE = "evaluations.sessions"
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", str(2 * 60 * 60)))
SESSION_SAVE_EVERY_REQUEST = False
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy on every response, with DEBUG on too so a page that breaks
# it shows at once: scripts and styles only from this site, inline ones only with the
# response's nonce (templates write nonce="{{ csp_nonce }}"); no style="" attributes,
# no plugins, no framing, forms post only here.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(365 * 24 * 60 * 60)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Uploads past that size wait here, and so does a zip packed for an S3 store: a folder
# with room for hundreds of MB (None: the system's temporary folder).
FILE_UPLOAD_TEMP_DIR = os.environ.get("FILE_UPLOAD_TEMP_DIR") or None
# The entry page posts the whole table as one form: about 7 fields a row, so
# Django's default of 1,000 fields would stop at ~150 rows.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10_000

# Mail goes to the console while DEBUG is on; a server sends through SMTP (EMAIL_HOST …).
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
MAILERS = {"default": {"BACKEND": EMAIL_BACKEND}}
if EMAIL_BACKEND.endswith("smtp.EmailBackend"):
    MAILERS["default"]["OPTIONS"] = {
        "host": os.environ.get("EMAIL_HOST", "localhost"),
        "port": int(os.environ.get("EMAIL_PORT", "25")),
        "username": os.environ.get("EMAIL_HOST_USER", ""),
        "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
        "use_tls": env_bool("EMAIL_USE_TLS", False),
    }
del EMAIL_BACKEND
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "jixiao@localhost")
# The address the review emails link to.
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

# Background work: tasks written against django.tasks, stored in the database and run
# by `manage.py db_worker` (one beside the web server; more on other machines).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# Seconds one PDF may take: the render is interrupted then; a render stuck in native
# code past EXPORT_RENDER_TIMEOUT + EXPORT_KILL_GRACE ends its worker process, and the
# sweeper hands the item to another worker.
EXPORT_RENDER_TIMEOUT = float(os.environ.get("EXPORT_RENDER_TIMEOUT", "120"))
EXPORT_KILL_GRACE = float(os.environ.get("EXPORT_KILL_GRACE", "30"))
# The same limit for a PDF rendered while the table page's download waits: below
# gunicorn's 30 s timeout, so the user gets a message in Chinese instead of a dead worker.
PDF_REQUEST_TIMEOUT = float(os.environ.get("PDF_REQUEST_TIMEOUT", "20"))
# How often an item is tried before it counts as failed (a crash of its worker counts).
EXPORT_MAX_ATTEMPTS = int(os.environ.get("EXPORT_MAX_ATTEMPTS", "3"))

# load_demo creates users with published passwords: allowed where DEBUG is on.
DEMO_DATA_ALLOWED = env_bool("DEMO_DATA_ALLOWED", DEBUG)

# The PDF's font list, first found wins. A bureau with a licensed 仿宋 / 小标宋 puts
# it first here (PDF_FONT_FAMILIES="FangSong_GB2312,Noto Serif CJK SC,HanaMinA,HanaMinB").
# 花園明朝 (fonts-hanazono) comes last: it has the rare characters of names that Noto CJK
# lacks (CJK Extension B and beyond, e.g. 𡒄 U+21484), in the same 明朝 / 宋体 style.
PDF_FONT_FAMILIES = env_list(
    "PDF_FONT_FAMILIES", "Noto Serif CJK SC,Noto Sans CJK SC,HanaMinA,HanaMinB"
)
# Where the PDF keeps its cut of Noto Serif CJK SC (evaluations/pdf_fonts.py), made on
# first use: writable by the web and worker processes.
PDF_FONT_CACHE = os.environ.get("PDF_FONT_CACHE", str(BASE_DIR / ".cache" / "pdf-fonts"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

# Admin import needs the model's add permission, export its view permission.
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "add"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"
