"""The error of a batch the warehouse refuses."""

from __future__ import annotations


class WarehouseDataError(ValueError):
    """A batch cannot be written as it is; the message names the table, column or key."""
