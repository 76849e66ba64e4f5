"""The audit trail: append-only, hash-chained, signed at checkpoints, verifiable.

`audit` subscribes to the kernel's signals (protection never imports audit); `cases`
calls `audit.trail.record()` directly. Either way the entry joins the transaction of the
action it describes.
"""
