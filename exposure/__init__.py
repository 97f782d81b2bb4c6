"""The exposure domain: accounts, attachments, the exposure ledger, breaks and audit.

This package is a leaf. It may import SQLAlchemy and the standard library; it never imports
Flask, ``config``, ``wellbeing`` or ``blur``. Functions take a ``Session`` and ``now`` and
return values; they flush but never commit (the caller owns the transaction).
"""
