"""Sessions end after `SESSION_COOKIE_AGE` without a request (two idle hours) and when
the browser closes. The idle expiry moves with every request, but is written at most
once a minute: writing the session on every page view was a quarter of a page's queries
and a write on every read. So a session ends between two hours less a minute and two
hours after its last request.

`SESSION_ENGINE` is this module: Django's database sessions that remember, when loaded,
the expiry stored with them, read in one plain SELECT (`by_key`: every logged-in
request reads its session first); `IdleExpiryMiddleware` (after Django's
SessionMiddleware) marks a session for saving once its expiry is older than a minute.
"""

from datetime import timedelta

from django.contrib.sessions.backends import db
from django.db import connection
from django.utils import timezone

from .by_key import fetch

REFRESH_EVERY = timedelta(minutes=1)


class SessionStore(db.SessionStore):
    stored_expiry = None

    def _get_session_from_db(self):
        stored = None
        if self.session_key is not None:
            now = connection.ops.adapt_datetimefield_value(timezone.now())
            stored = fetch(self.model, "session_key", self.session_key, "expire_date > %s", [now])
        if stored is None:
            self._session_key = None
        return stored

    def load(self) -> dict:
        stored = self._get_session_from_db()
        if stored is None:
            return {}
        self.stored_expiry = stored.expire_date
        return self.decode(stored.session_data)


def needs_refresh(session: SessionStore) -> bool:
    """Whether the stored expiry was written more than a minute ago."""
    if session.stored_expiry is None:
        return False  # a session new in this request is saved anyway
    written = session.stored_expiry - timedelta(seconds=session.get_expiry_age())
    return timezone.now() - written >= REFRESH_EVERY


class IdleExpiryMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if (
            isinstance(session, SessionStore)
            and session.accessed
            and not session.modified
            and not session.is_empty()
            and needs_refresh(session)
        ):
            session.modified = True  # SessionMiddleware saves it, with a new expiry
        return response
