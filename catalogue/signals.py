from django.dispatch import Signal

# Sent after the transaction that stored new images commits; dedup listens and fingerprints them.
# Arguments: collection, image_ids.
images_added = Signal()
