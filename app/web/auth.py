"""Who is asking, for pages: Flask-Login sessions for people (API tokens live in app.api.auth)."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from app.extensions import db, limiter, login_manager
from app.models import OrgStatus, User
from app.services.errors import NotAllowed
from app.web.security import safe_next

F = TypeVar("F", bound=Callable[..., Any])

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """Checked on every request: the session of a user whose organisation is revoked (or revoking) ends."""
    user = db.session.get(User, int(user_id))
    if user is None or OrgStatus(user.organisation.status).revoked:
        return None
    return user


@functools.cache
def _dummy_hash() -> str:
    """A hash made like every user's (werkzeug's default method), of a password nobody has."""
    return generate_password_hash(secrets.token_urlsafe(16))


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])
    submit = SubmitField(_l("Log in"))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"])
def login() -> str | Response:
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.scalar(select(User).where(User.username == form.username.data))
        if user is None:
            # The same hash work as for a real user, so the answer's timing does not tell who exists.
            check_password_hash(_dummy_hash(), form.password.data or "")
        if user is None or not user.check_password(form.password.data or ""):
            form.password.errors.append(str(_l("Wrong username or password.")))
        elif user.organisation.status == OrgStatus.REVOKED:
            form.username.errors.append(str(_l("This organisation has been revoked.")))
        else:
            login_user(user)
            # Only local paths: an open redirect would hand the session to another site.
            return redirect(safe_next(request.args.get("next"), url_for("web.home")))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Response:
    logout_user()
    flash(str(_l("You have logged out.")))
    return redirect(url_for("web.home"))


def role_required(*kinds: str) -> Callable[[F], F]:
    """A logged-in user of an organisation of one of `kinds` (finance, issuer, claimant)."""

    def decorator(view: F) -> F:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            org = current_user.organisation
            if org.kind not in kinds:
                raise NotAllowed("forbidden", str(_l("Your organisation may not do this.")))
            if OrgStatus(org.status).revoked:
                raise NotAllowed("organisation_revoked", str(_l("Your organisation has been revoked.")))
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorator


def init_app(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = str(_l("Please log in."))
    app.register_blueprint(bp)
