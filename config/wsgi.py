import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# A server (gunicorn config.wsgi) runs with DEBUG off unless told otherwise, so a
# forgotten variable fails closed: no debug pages, SECRET_KEY required, no demo
# users. manage.py (runserver, tests, commands) keeps the local default, DEBUG on.
os.environ.setdefault("DEBUG", "0")
application = get_wsgi_application()
