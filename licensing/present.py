"""One plain-data form of the answers, for the pages and the API alike (so they cannot disagree)."""

from django.urls import reverse

from catalogue import access


def file_data(image):
    if image is None:
        return None
    return {
        "id": image.pk,
        "record": image.record_id,
        "source_path": image.source_path,
        "sha256": image.sha256,
        "size": image.size,
        "width": image.width,
        "height": image.height,
        "format": image.format,
        "colour_mode": image.mode,
        "colour_profile": image.icc_profile,
        "added_at": image.created_at,
        "url": reverse("catalogue-image-original", args=[image.pk]),
    }


def record_data(record, user):
    """The record, or only that it exists when its collection is one the user may not see."""
    if not access.may_see(user, record.collection_id):
        return {"id": None, "catalogue_number": None, "collection": None, "visible": False}
    return {
        "id": record.pk,
        "catalogue_number": record.catalogue_number,
        "collection": record.collection.name,
        "title": record.title,
        "status": record.status,
        "visible": True,
        "url": record.get_absolute_url(),
    }


def answer_data(answer, user):
    now_visible = access.may_see(user, answer.resolved_now.collection_id)
    then_visible = access.may_see(user, answer.resolved_then.collection_id)
    return {
        "as_of": answer.moment,
        "catalogue_number": answer.record.catalogue_number,
        "record": record_data(answer.record, user),
        "record_existed": answer.existed,
        "then": {
            "record": record_data(answer.resolved_then, user),
            "file": file_data(answer.file_then) if then_visible else None,
            # False: the catalogue holds no file from that date (imported later); the earliest is given.
            "file_from_that_date": answer.file_then_exact,
            "rights": answer.rights_then["rights"] if then_visible else None,
            "credit_line": answer.rights_then["credit_line"] if then_visible else None,
            # Every change made since licensing was installed is in its field ledger (decisions' merges,
            # undo and revert, edits); before that, only what the decisions themselves recorded.
            "rights_source": "field ledger",
            "licensed_record_rights": answer.own_rights_then["rights"],
            "licensed_record_credit_line": answer.own_rights_then["credit_line"],
        },
        "now": {
            "record": record_data(answer.resolved_now, user),
            "file": file_data(answer.file_now) if now_visible else None,
            "rights": answer.rights_now["rights"] if now_visible else None,
            "credit_line": answer.rights_now["credit_line"] if now_visible else None,
        },
        "delivered_sha256": answer.sha256 or None,
        "delivered_sha256_matches": answer.sha256_matches,
        "superseded_since": bool(answer.superseded_since),
        "master_changed_since": answer.master_changed,
        "merged_since": answer.merged_since,
        "rights_changed_since": answer.rights_changed,
        "events_since": [event_data(e) for e in answer.events_since],
    }


def event_data(event):
    keys = ("at", "event", "summary", "record", "image", "sha256", "decision", "sequence", "kind", "actor")
    data = {key: event.get(key) for key in keys}
    data.update(
        {
            "changes": event.get("changes") or {},
            "master_before": event.get("master_before"),
            "master_after": event.get("master_after"),
            "corrects": event.get("corrects"),
            "approves": event.get("approves"),
            "updated_version": bool(event.get("updated_version")),
        }
    )
    return data


def licence_data(licence):
    return {
        "id": licence.pk,
        "number": licence.number,
        "client": licence.client,
        "collection": licence.collection_id,
        "catalogue_number": licence.catalogue_number,
        "record": licence.record_id,
        "licensed_on": licence.licensed_on,
        "usage": licence.usage,
        "territory": licence.territory,
        "sha256": licence.sha256,
        "source": licence.source,
        "created_at": licence.created_at,
    }
