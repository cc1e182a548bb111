"""The bare-Flask ceiling: one JSON endpoint and nothing else, served by the same gunicorn settings as the app."""

from __future__ import annotations

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue

app = Flask(__name__)


@app.get("/")
def answer() -> ResponseReturnValue:
    return jsonify(verdict="authentic", authentic=True, as_of_block=1)
