"""Mastercopy settings: one file, everything from the environment.

Zero-setup defaults (SQLite, an embedded filesystem broker, local files under MASTERCOPY_DATA_DIR)
when nothing is configured; PostgreSQL, Redis and S3-compatible storage when their variables are set.
README.md lists every variable.
"""

import ipaddress
import os
import secrets
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name, default=None):
    """A setting from NAME, or from the file named by NAME_FILE (Docker/Kubernetes secrets)."""
    value = os.environ.get(name)
    if value is None and os.environ.get(f"{name}_FILE"):
        value = Path(os.environ[f"{name}_FILE"]).read_text().strip()
    return default if value in (None, "") else value


def envbool(name, default):
    value = env(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def envint(name, default):
    value = env(name)
    return default if value is None else int(value)


def envlist(name, default):
    value = env(name)
    return default if value is None else [item.strip() for item in value.split(",") if item.strip()]


DATA_DIR = Path(env("MASTERCOPY_DATA_DIR", BASE_DIR / "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = envbool("DEBUG", False)
# pytest (8.2+) sets PYTEST_VERSION for the whole session: tests get a throwaway key and plain HTTP.
TESTING = "PYTEST_VERSION" in os.environ or (len(sys.argv) > 1 and sys.argv[1] == "test")


def _secret_key():
    key = env("SECRET_KEY")
    if key:
        return key
    if TESTING:
        return "insecure-test-only-" + "x" * 40
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY (or SECRET_KEY_FILE) must be set when DEBUG is off. "
            'Generate one with: python -c "import secrets; print(secrets.token_urlsafe(50))"'
        )
    # Development only: a random key kept in the data dir, so sessions survive restarts.
    path = DATA_DIR / "dev-secret-key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()


def _audit_key():
    """The key of the decisions' hash chain (review.audit): like SECRET_KEY, from the environment or a
    *_FILE, required when DEBUG is off, and kept out of the database, so that whoever can write to the
    database cannot recompute the chain after changing it."""
    key = env("MASTERCOPY_AUDIT_KEY")
    if not key and TESTING:
        return "insecure-test-only-audit-key-" + "y" * 40
    if not key and not DEBUG:
        raise ImproperlyConfigured(
            "MASTERCOPY_AUDIT_KEY (or MASTERCOPY_AUDIT_KEY_FILE) must be set when DEBUG is off. "
            'Generate one with: python -c "import secrets; print(secrets.token_urlsafe(50))"'
        )
    if not key:
        # Development only: a random key kept in the data dir, like the development SECRET_KEY.
        path = DATA_DIR / "dev-audit-key"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(50))
            path.chmod(0o600)
        key = path.read_text().strip()
    if len(key) < 32:
        raise ImproperlyConfigured("MASTERCOPY_AUDIT_KEY must be at least 32 characters long.")
    return key


MASTERCOPY_AUDIT_KEY = _audit_key()
# Rotation: put the new key in MASTERCOPY_AUDIT_KEY and the previous ones here (comma-separated, or one
# per line in MASTERCOPY_AUDIT_OLD_KEYS_FILE); each decision names the key that signed it, and the old
# keys still verify theirs. Never drop a key while decisions it signed exist.
MASTERCOPY_AUDIT_OLD_KEYS = (env("MASTERCOPY_AUDIT_OLD_KEYS") or "").replace(",", " ").split()
# Checkpoints of the chain's head, outside the database: one line appended after every transaction that
# records decisions (and by verify_audit --checkpoint). Put it on a volume the web and the workers share,
# ideally one the database's administrators cannot write (or made append-only with chattr +a).
MASTERCOPY_AUDIT_CHECKPOINTS = env(
    "MASTERCOPY_AUDIT_CHECKPOINTS",
    str(Path(tempfile.gettempdir()) / f"mastercopy-test-checkpoints-{os.getpid()}.jsonl")
    if TESTING
    else str(DATA_DIR / "audit-checkpoints.jsonl"),
)
# Re-keying an existing chain (migration review 0009) refuses a chain that is already broken, which it
# would otherwise launder; set this to re-key anyway (the breaks are noted in the checkpoint file).
MASTERCOPY_AUDIT_REKEY_BROKEN = envbool("MASTERCOPY_AUDIT_REKEY_BROKEN", False)
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "storages",
    "rest_framework",
    "knox",  # API tokens stored hashed, with an expiry (api.tokens)
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "catalogue",
    "dedup",
    "review",
    "api",
    "licensing",
    "iiif",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "mastercopy.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "catalogue.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "mastercopy.urls"
WSGI_APPLICATION = "mastercopy.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "catalogue.context_processors.roles",
            ],
        },
    },
]

# --- Database: SQLite in the data dir unless DATABASE_URL names another (postgresql://...). ---
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{DATA_DIR / 'mastercopy.sqlite3'}"),
        conn_max_age=envint("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
if POSTGRES and not envbool("MASTERCOPY_PG_JIT", False):
    # PostgreSQL's JIT compiles a query whose estimated cost passes jit_above_cost: on tables of millions of
    # rows that is many of a request's short queries, and the compiling (10-25 ms each) costs more than
    # the query (a decision's record-group query: 23 ms of JIT on 600k pairs). Off for this app's sessions.
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options["options"] = (options.get("options", "") + " -c jit=off").strip()
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker write at once: WAL and IMMEDIATE transactions avoid
    # "database is locked" under that load; the test database is a file so a worker can share it.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # One file per test run, so two runs on one checkout never share (and clobber) a test database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    # Hashing at production strength costs a second per test user; tests do not need it.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Every password check (login page, /admin/login/, the API's token endpoint) goes through this backend,
# which applies the failure limits (mastercopy.auth).
AUTHENTICATION_BACKENDS = ["mastercopy.auth.LimitedModelBackend"]
# Failed logins allowed per account, and (counted separately, so a shared office or proxy address does
# not lock every account) per client address, within a window of this many seconds.
MASTERCOPY_LOGIN_FAILURES = envint("MASTERCOPY_LOGIN_FAILURES", 5)
MASTERCOPY_LOGIN_ADDRESS_FAILURES = envint("MASTERCOPY_LOGIN_ADDRESS_FAILURES", 50)
MASTERCOPY_LOGIN_LOCKOUT_SECONDS = envint("MASTERCOPY_LOGIN_LOCKOUT_SECONDS", 900)
# Addresses or networks of the reverse proxies in front of the app (e.g. "127.0.0.1,10.0.0.0/8"). Only
# a request from one of them has its X-Forwarded-For believed; empty: the peer's address is the client's.
MASTERCOPY_TRUSTED_PROXIES = [
    str(ipaddress.ip_network(entry, strict=False)) for entry in envlist("MASTERCOPY_TRUSTED_PROXIES", [])
]
# The login limits must be shared by every web process: set CACHE_URL=redis://... in production
# (docker-compose.yml does); without it each process has its own memory cache and counts alone.
CACHE_URL = env("CACHE_URL")
if CACHE_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# --- Languages: English, Traditional and Simplified Chinese, chosen per user (catalogue.Profile). ---
LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", _("English")),
    ("zh-hant", _("Traditional Chinese")),
    # Mainland partners' staff (issue 17): locale/zh_Hans, mainland terms (用户名, 上传, 图像).
    ("zh-hans", _("Simplified Chinese")),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = env("TIME_ZONE", "UTC")
USE_TZ = True

# --- Files: local storage in the data dir, or any S3-compatible bucket. Originals are never public. ---
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns at every start without it
STATICFILES_DIRS = [BASE_DIR / "static"]
S3_BUCKET = env("MASTERCOPY_S3_BUCKET")
if S3_BUCKET:
    default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": env("MASTERCOPY_S3_ENDPOINT_URL"),
            "region_name": env("MASTERCOPY_S3_REGION"),
            "access_key": env("MASTERCOPY_S3_ACCESS_KEY_ID"),
            "secret_key": env("MASTERCOPY_S3_SECRET_ACCESS_KEY"),
            "location": env("MASTERCOPY_S3_PREFIX", ""),
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
else:
    default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(DATA_DIR / "media"), "base_url": "/nowhere/"},
    }
STORAGES = {
    "default": default_storage,
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or TESTING
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Import limits. ---
# Above this many pixels an image is refused as a decompression bomb; 400 MP admits 300 MP archival scans.
MASTERCOPY_MAX_PIXELS = envint("MASTERCOPY_MAX_PIXELS", 400_000_000)
# One file (or zip member) larger than this is refused.
MASTERCOPY_MAX_FILE_BYTES = envint("MASTERCOPY_MAX_FILE_BYTES", 2 * 1024**3)
# A browser upload (all files of one request) larger than this is refused before it is read.
MASTERCOPY_MAX_UPLOAD_BYTES = envint("MASTERCOPY_MAX_UPLOAD_BYTES", 4 * 1024**3)
DATA_UPLOAD_MAX_NUMBER_FILES = envint("MASTERCOPY_MAX_UPLOAD_FILES", 2000)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024**2
# A zip archive is measured from its central directory before anything is extracted, and refused whole
# above any of these: its members, its uncompressed total, its expansion ratio (archive and each member,
# counted only above 32 MB: images are already compressed, so a real archive expands 1-3 times).
MASTERCOPY_ZIP_MAX_MEMBERS = envint("MASTERCOPY_ZIP_MAX_MEMBERS", 10_000)
MASTERCOPY_ZIP_MAX_TOTAL_BYTES = envint("MASTERCOPY_ZIP_MAX_TOTAL_BYTES", 16 * 1024**3)
MASTERCOPY_ZIP_MAX_RATIO = envint("MASTERCOPY_ZIP_MAX_RATIO", 100)
# Browser uploads are staged in the default storage under this prefix (so a worker on another machine
# reads them) and unpacked by catalogue.tasks.process_upload; each staged file is deleted once imported.
MASTERCOPY_UPLOAD_STAGING = env("MASTERCOPY_UPLOAD_STAGING", "uploads/staging")
# Decoding an image for its fingerprint may use about this much memory (dedup.signals): larger images are
# shrunk while decoding (libvips), and one that cannot be is refused with the reason.
MASTERCOPY_DECODE_MAX_BYTES = envint("MASTERCOPY_DECODE_MAX_BYTES", 768 * 1024**2)
# IIIF tiles (iiif.tiles): an original up to this many pixels is tiled inside its first tile request
# (~1 s for 24 MP, bench/tiles.py); a larger one by the Celery task iiif.tasks.make_tiles, its tiles
# answering 503 with Retry-After meanwhile.
MASTERCOPY_IIIF_SYNC_PIXELS = envint("MASTERCOPY_IIIF_SYNC_PIXELS", 50_000_000)

# --- Pair search: Hamming distances (of 64 bits) within which two images become a candidate pair. ---
MASTERCOPY_THRESHOLDS = {
    "phash": envint("MASTERCOPY_PHASH_DISTANCE", 10),  # pHash against pHash: copies, rescans, recolours
    "orientation": envint("MASTERCOPY_ORIENTATION_DISTANCE", 8),  # rotated or mirrored copies
    "border": envint("MASTERCOPY_BORDER_DISTANCE", 10),  # copies with a scanner border trimmed
    "crop": envint("MASTERCOPY_CROP_DISTANCE", 8),  # crops: a region of one against the other
}
# Automatic settling beyond exact copies may be switched on for a relation from a score only after this
# many standing human duplicate decisions, and no rejection, in that band (review.calibration).
MASTERCOPY_AUTO_MIN_DECISIONS = envint("MASTERCOPY_AUTO_MIN_DECISIONS", 50)
# Images per fingerprinting / search task: big enough that a million files is not a million messages.
MASTERCOPY_BATCH_SIZE = envint("MASTERCOPY_BATCH_SIZE", 200)
# Pair search index shards (dedup.search): 1 keeps the whole archive in each searching worker process;
# S > 1 splits it by image id % S, shard k searched by the workers of the queue mastercopy-index-k.
MASTERCOPY_INDEX_SHARDS = envint("MASTERCOPY_INDEX_SHARDS", 1)
# A pair whose original storage cannot open (while others open) is retried after waits of this, doubling
# (10, 20, 40, 80 min ...), and after this many attempts goes to a person as "original missing".
MASTERCOPY_MISSING_RETRY_SECONDS = envint("MASTERCOPY_MISSING_RETRY_SECONDS", 600)
MASTERCOPY_MISSING_ATTEMPTS = envint("MASTERCOPY_MISSING_ATTEMPTS", 6)

# --- Celery: an embedded filesystem broker by default (no server), Redis when CELERY_BROKER_URL is set. ---
CELERY_BROKER_URL = env("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = DATA_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    # A message unacknowledged this long (its worker died, acks_late) is redelivered to another worker;
    # batches finish well within an hour even for 300-megapixel scans.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT", 3600)}
# Progress lives in the database, so task results are not kept.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker that loses the broker (Redis restarted) reconnects by itself, however long that takes.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_CONSUMER = "mastercopy.celery:Consumer"  # celery 5.7.0 died instead of reconnecting
# Tasks running when the connection drops finish; their acknowledgement reaches Redis once reconnected
# (or the message is redelivered after the visibility timeout, and the ensure_* work skips what is done).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# Publishing rides out a broker blip of ~10 s (waits of 0.5, 1.5, 2.5, 3, 3 s); beyond that the caller logs
# it and stops (dedup.tasks.publish_batches); dedup.tasks.resume_pending enqueues that work later.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 5,
    "interval_start": 0.5,
    "interval_step": 1,
    "interval_max": 3,
}
# How often an idle worker looks for work the database shows as waiting with no message for it.
MASTERCOPY_RESUME_SECONDS = envint("MASTERCOPY_RESUME_SECONDS", 60)
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_DEFAULT_QUEUE = "mastercopy"

# --- Security: production defaults whenever DEBUG is off (see README's security section). ---
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# Our own scripts only; images also from data:/blob: (the review screen's canvases); no framing.
MASTERCOPY_CSP = env(
    "MASTERCOPY_CSP",
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'",
)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG and not TESTING:
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
    if envbool("SECURE_PROXY_SSL_HEADER", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SILENCED_SYSTEM_CHECKS = [] if envbool("SECURE_HSTS_PRELOAD", False) else ["security.W021"]

# --- REST API (api/): tokens or the session, JSON only, the pages' roles (see api.permissions). ---
REST_FRAMEWORK = {
    # Token first: an anonymous request is then told 401 with WWW-Authenticate, not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON only: the browsable API's pages need inline script, which the CSP refuses.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.Pagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Exports take ?format=csv|json like their pages; the API has one renderer, so no format override.
    "URL_FORMAT_OVERRIDE": None,
}
# API tokens (django-rest-knox): "Authorization: Token <token>" as before; stored as a SHA-512 digest,
# valid this many days from issue (no sliding renewal), revoked on password change or deactivation.
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=envint("MASTERCOPY_API_TOKEN_DAYS", 30)),
    "AUTO_REFRESH": False,
    "AUTH_HEADER_PREFIX": "Token",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Mastercopy API",
    "DESCRIPTION": "Collections, records, images, imports, candidate pairs, groups, decisions and exports.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI's files from the drf-spectacular-sidecar package, served as our own static files: no CDN,
    # and the split view loads its start-up script from a URL, so the strict CSP holds.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "RecordStatusEnum": "catalogue.models.CatalogueRecord.Status",
        "ReviewStatusEnum": "review.models.ReviewItem.Status",
        "DecisionKindEnum": "review.models.Decision.Kind",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    # pyvips passes on libvips' own chatter at INFO and DEBUG ("threadpool completed with 2 workers" on
    # every image); its warnings and errors (a tile libvips could not decode) still reach the log.
    "loggers": {"PIL": {"level": "WARNING"}, "pyvips": {"level": "WARNING"}},
}
