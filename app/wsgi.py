"""The WSGI entry point for production servers: `gunicorn -w 2 --threads 4 app.wsgi:app`.

Each server process may run the anchoring worker (BILLCHAIN_WORKER, default on); the database lease
lets exactly one of them send at a time, so any number of processes and hosts is safe.
"""

from app import create_app
from app.outbox.worker import AnchorWorker
from app.services.delivery import DeliveryWorker
from app.serving import tune_gc

app = create_app()
if app.config["BILLCHAIN_WORKER"]:
    worker = AnchorWorker(app)
    app.extensions["billchain"].worker = worker
    worker.start()
    DeliveryWorker(app).start()  # bills to payers by e-mail and text, retried; never inside a request
tune_gc()
