from django.dispatch import Signal

# Sent (inside the transaction that classified it) for a certain pair the tier rules settle
# automatically; the review app records the system's decision and supersedes the other record.
# Arguments: pair, master_image, reason.
pair_settled = Signal()
