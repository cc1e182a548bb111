"""The pure core of Billchain: bill model, hashing, Merkle batches, bill files, QR codes, verification.

No Flask and no web3 here: the web app, the API, the scripts and the chain client all build on it.
Import the module you need (``app.bills.chainview`` stays light for the chain client); nothing is
re-exported so that importing one module never drags in QR decoding or Pillow.
"""
