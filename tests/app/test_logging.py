"""Migrating the database must not silence the app's loggers (Alembic's fileConfig used to disable them)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from appkit import make_config

from app import create_app
from app.chain import Deployment
from app.extensions import db
from app.services.provisioning import upgrade_database
from dev.devchain import AnvilNode

REPO = Path(__file__).resolve().parents[2]


def test_a_billchain_logger_made_before_the_migrations_still_emits_after_them(
    anvil: AnvilNode, deployment: Deployment, database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    before = logging.getLogger("billchain.test-made-before-migrations")
    app = create_app(make_config(anvil, deployment, database_url, tmp_path))
    with app.app_context():
        upgrade_database()
        db.session.remove()
        db.engine.dispose()

    with caplog.at_level(logging.INFO):
        before.info("one-time code 246810")
    assert not before.disabled
    assert "one-time code 246810" in caplog.text


def test_make_run_console_shows_the_otp_and_worker_logs_after_migrating(tmp_path: Path) -> None:
    """As dev.run sets logging up: basicConfig, then the app, then upgrade_database(); a process of its own."""
    script = textwrap.dedent(
        """
        import logging
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
        from app import create_app
        from app.services.provisioning import upgrade_database
        app = create_app({"BILLCHAIN_SECRET_KEY": "x"})
        with app.app_context():
            upgrade_database()
        logging.getLogger("billchain.otp").info("code for 139****9000: 135790")
        logging.getLogger("billchain.worker").info("anchored 3 bills")
        """
    )
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "BILLCHAIN_INSTANCE_PATH": str(tmp_path / "instance")}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "billchain.otp: code for 139****9000: 135790" in done.stderr
    assert "billchain.worker: anchored 3 bills" in done.stderr
