from django.dispatch import Signal

# Sent (inside the transaction that classified it) for a certain pair the tier rules settle
# automatically; the review app records the system's decision and supersedes the other record.
# Arguments: pair, master_image, reason.
pair_settled = Signal()

# Sent once per transaction of a verify batch's verdicts (dedup.verification), inside the transaction that
# stored them, instead of pair_settled / pair_for_review for each: the review app settles and queues them
# in bulk, with the outcome the per-pair signals would have had, pair by pair in this order. Arguments:
# entries, [(pair, master_image, reason)] by pair id, for the pairs the tier rules settle or put in the
# review tier; master_image None: the pair went to the review tier, reason unused.
pairs_verified = Signal()

# Sent inside the transaction that puts a verified pair in the review tier (dedup.verification), so the
# review app queues it in that same transaction: the queue never lags the pipeline, and a GET of the
# queue page writes nothing. Arguments: pair.
pair_for_review = Signal()

# Sent by resume_pending (dedup.tasks) after it has enqueued stranded work: the review app repairs its
# queue then (review-tier pairs without an item, e.g. from before queue items were created with the
# tier). No arguments.
pending_resumed = Signal()
