import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mastercopy.settings")

app = Celery("mastercopy")
# Every CELERY_* Django setting configures the app; settings.py is the only place they are read.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
